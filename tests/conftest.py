"""Shared fixtures: a real mosquitto, the shared data folder, and a guard that turns an
exception swallowed in any thread (a paho callback, a camera) into a test failure."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from alprd.demo.broker import Mosquitto

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    config.addinivalue_line("markers", "policy(id): proves a row of the policy requirements")
    config.addinivalue_line(
        "markers",
        "reliability: the reliability and security campaign "
        "(short in CI; ALPRD_LONG=1 / ALPRD_KILLS=200 for the long run)",
    )
    config._alprd_policy = {}


def pytest_runtest_logreport(report):
    """Record each policy test's outcome for `alprd compliance` (ALPRD_COMPLIANCE_OUT)."""
    ids = dict(report.user_properties).get("policy")
    if ids and (report.when == "call" or report.outcome != "passed"):
        _RESULTS.setdefault(report.nodeid, {"policy": ids, "outcome": "passed"})
        if report.outcome != "passed":
            _RESULTS[report.nodeid]["outcome"] = report.outcome


_RESULTS: dict = {}


def pytest_collection_modifyitems(items):
    for item in items:
        ids = [m.args[0] for m in item.iter_markers("policy")]
        if ids:
            item.user_properties.append(("policy", ids))


def pytest_sessionfinish(session):
    out = os.environ.get("ALPRD_COMPLIANCE_OUT")
    if out:
        import json

        Path(out).write_text(json.dumps(_RESULTS, indent=1))


@pytest.fixture
def broker():
    with Mosquitto() as b:
        yield b


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for HQ's tests: ALPRD_TEST_PG (a URL whose user may create
    databases), else a throwaway cluster of Debian's postgresql (./run test installs it)."""
    url = os.environ.get("ALPRD_TEST_PG")
    if url:
        yield _GivenServer(url)
        return
    from alprd.demo.postgres import Postgres

    with Postgres() as pg:
        yield pg


class _GivenServer:
    def __init__(self, url: str) -> None:
        self.base = url

    def create_database(self, name: str) -> str:
        from urllib.parse import urlsplit, urlunsplit

        import psycopg

        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return urlunsplit(urlsplit(self.base)._replace(path="/" + name))


_DB_SEQ = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def hq_db(request, tmp_path, monkeypatch):
    """HQ's database on each back end: a SQLite file, or a fresh PostgreSQL database (whose
    plate index key is made in the working folder: the test's own)."""
    if request.param == "sqlite":
        return tmp_path / "hq.db"
    monkeypatch.chdir(tmp_path)
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"hq_test_{os.getpid()}_{next(_DB_SEQ)}")


@pytest.fixture
def shared_data() -> Path:
    path = Path(os.environ.get("ALPRD_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (set ALPRD_SHARED_DATA)")
    return path


@pytest.fixture(autouse=True)
def fail_on_thread_exceptions():
    errors = []
    old = threading.excepthook

    def hook(args):
        errors.append(
            f"{args.thread.name if args.thread else '?'}: {args.exc_type.__name__}: "
            f"{args.exc_value}"
        )
        old(args)

    threading.excepthook = hook
    yield
    threading.excepthook = old
    assert not errors, f"exception in a thread: {errors}"
