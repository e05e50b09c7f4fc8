"""Start Debian's PostgreSQL as a throwaway cluster on a free loopback port, for the tests and
bench/fleet.py (the reference HQ's production back end; docs/hq-operations.md). PostgreSQL
refuses to run as root: started by root, the cluster runs as the `postgres` account."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from alprd.demo.broker import free_port


class PostgresError(Exception):
    pass


def find_bin(name: str) -> str:
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if found:
        return found[-1]
    path = shutil.which(name)
    if not path:
        raise PostgresError(f"PostgreSQL's {name} not found: sudo apt-get install postgresql")
    return path


class Postgres:
    """A private cluster: trust authentication on 127.0.0.1 only. fsync=False (the tests): no
    flush to disk; fsync=True (the benchmarks): durable commits, as in service."""

    def __init__(self, port: int | None = None, fsync: bool = False) -> None:
        self.port = port or free_port()
        self.fsync = fsync
        self._dir = tempfile.TemporaryDirectory(prefix="alprd-pg-")
        self.data = Path(self._dir.name) / "data"
        self.user = "postgres" if os.geteuid() == 0 else os.environ.get("USER") or "postgres"
        self._started = False

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *cmd: str, timeout: float = 60) -> None:
        if os.geteuid() == 0:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        got = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if got.returncode:
            raise PostgresError(
                f"{Path(cmd[0 if cmd[0] != 'runuser' else 4]).name}: "
                f"{(got.stderr or got.stdout).strip()[-800:]}"
            )

    def start(self, timeout: float = 60.0) -> "Postgres":
        if os.geteuid() == 0:
            shutil.chown(self._dir.name, "postgres", "postgres")
        self._run(
            find_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8" if _has_c_utf8() else "--locale=C",
            "--no-sync",
        )
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self._dir.name} -c max_connections=200 "
            f"-c shared_buffers=256MB "
            f"-c synchronous_commit={'on' if self.fsync else 'off'} "
            f"-c fsync={'on' if self.fsync else 'off'} "
            f"-c full_page_writes={'on' if self.fsync else 'off'} "
            f"-c max_wal_size=4GB -c logging_collector=off"
        )
        self._run(
            find_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            opts,
            "-l",
            str(Path(self._dir.name) / "postgres.log"),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            timeout=timeout + 10,
        )
        self._started = True
        return self

    def create_database(self, name: str) -> str:
        """A fresh database; returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_text(self) -> str:
        try:
            return (Path(self._dir.name) / "postgres.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self._started:
            try:
                self._run(find_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except (PostgresError, subprocess.TimeoutExpired):
                pass
            self._started = False
        self._dir.cleanup()

    def __enter__(self) -> "Postgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _has_c_utf8() -> bool:
    return Path("/usr/lib/locale/C.utf8").exists() or Path("/usr/lib/locale/C.UTF-8").exists()


def wait_ready(url: str, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL at {url} not ready: {exc}") from exc
            time.sleep(0.2)
