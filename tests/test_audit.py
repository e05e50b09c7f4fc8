"""The hash-chained audit trail (POL-17, POL-18) and `alprd audit verify/report`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from alprd.audit import AuditError, AuditLog
from alprd.store import Store
from tests.helpers import KEY, key_file


def filled(tmp_path, n=5) -> tuple[Store, AuditLog]:
    store = Store(tmp_path / "car.db", KEY)
    log = AuditLog(store, "CAR-1")
    for i in range(n):
        log.append(
            f"u{i % 2}",
            "data_user",
            "search",
            purpose="criminal",
            query={"plate": f"7ABC12{i}"},
            result_count=i,
        )
    return store, log


@pytest.mark.policy("POL-17")
def test_each_record_holds_the_fields_the_policy_names_and_chains(tmp_path):
    store, log = filled(tmp_path, 3)
    recs = log.records()
    assert [r["seq"] for r in recs] == [1, 2, 3]
    r = recs[1]
    assert (r["username"], r["purpose"], r["query"], r["result_count"]) == (
        "u1",
        "criminal",
        {"plate": "7ABC121"},
        1,
    )
    assert r["utc"].endswith("Z") and r["action"] == "search"
    assert r["prev_hash"] == recs[0]["hash"] and len(r["hash"]) == 64
    assert log.verify().records == 3
    # the queried plate is sealed at rest, and every record is queued for HQ
    raw = sqlite3.connect(tmp_path / "car.db")
    assert all(b"7ABC12" not in q for (q,) in raw.execute("SELECT query FROM audit"))
    kinds = [k for (k,) in raw.execute("SELECT kind FROM outbox")]
    assert kinds.count("audit") == 3
    store.close()


def test_a_purpose_outside_the_six_is_refused(tmp_path):
    store = Store(tmp_path / "car.db", KEY)
    with pytest.raises(ValueError):
        AuditLog(store).append("u", "data_user", "search", purpose="curiosity")
    store.close()


TAMPERS = {
    "edit a username": "UPDATE audit SET username='someone_else' WHERE seq=3",
    "edit a result count": "UPDATE audit SET result_count=0 WHERE seq=2",
    "delete a middle record": "DELETE FROM audit WHERE seq=3",
    "delete the newest record": "DELETE FROM audit WHERE seq=5",
    "delete every record": "DELETE FROM audit",
    "swap two records": "UPDATE audit SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END "
    "WHERE seq IN (2, 3)",
    "replace a sealed query": "UPDATE audit SET query=(SELECT query FROM audit WHERE seq=1) "
    "WHERE seq=4",
}


@pytest.mark.policy("POL-18")
@pytest.mark.parametrize("how", TAMPERS)
def test_verify_detects_tampering(tmp_path, how):
    store, log = filled(tmp_path)
    log.verify()
    store.close()
    raw = sqlite3.connect(tmp_path / "car.db")
    if how == "swap two records":  # through a free seq, as the primary key demands
        raw.executescript(
            "UPDATE audit SET seq=99 WHERE seq=2; UPDATE audit SET seq=2 "
            "WHERE seq=3; UPDATE audit SET seq=3 WHERE seq=99;"
        )
    else:
        raw.execute(TAMPERS[how])
    raw.commit()
    raw.close()
    store = Store(tmp_path / "car.db", KEY)
    with pytest.raises(AuditError):
        AuditLog(store).verify()
    store.close()


def test_purge_after_acknowledgement_keeps_the_chain_verifiable(tmp_path):
    store, log = filled(tmp_path, 4)
    ids = [r["id"] for r in log.records()]
    assert log.purge_acknowledged("2999-01-01") == 0  # nothing acknowledged yet: kept
    store.acknowledge(ids[:2])
    assert log.purge_acknowledged("2999-01-01") == 2
    v = log.verify()
    assert (v.records, v.first_seq, v.last_seq) == (2, 3, 4)
    log.append("u9", "administrator", "export", purpose="civil", result_count=0)
    assert log.verify().last_seq == 5
    store.close()


def run_cli(tmp_path, *args):
    cfg = tmp_path / "alprd.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "car.db"}"\nkey_file = "{key_file(tmp_path)}"\n')
    return subprocess.run(
        [sys.executable, "-m", "alprd", *args, "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.policy("POL-18")
def test_audit_cli_verifies_reports_and_fails_on_a_tampered_database(tmp_path):
    store, log = filled(tmp_path, 4)
    store.close()
    ok = run_cli(tmp_path, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout and "4 record" in ok.stdout
    rep = run_cli(tmp_path, "audit", "report", "--json")
    assert rep.returncode == 0, rep.stderr
    data = json.loads(rep.stdout)
    assert data["by_user"] == {"u0": 2, "u1": 2} and data["by_purpose"] == {"criminal": 4}
    assert data["plates_queried"]["7ABC123"] == 1
    text = run_cli(tmp_path, "audit", "report")
    assert "By purpose" in text.stdout and "7ABC120" in text.stdout
    raw = sqlite3.connect(tmp_path / "car.db")
    raw.execute("UPDATE audit SET purpose='civil' WHERE seq=2")
    raw.commit()
    raw.close()
    bad = run_cli(tmp_path, "audit", "verify")
    assert bad.returncode == 1 and "record 2" in bad.stdout + bad.stderr
