"""#24: HQ's record store on both back ends (SQLite, the embedded default, and PostgreSQL):
records once per (unit, id), plates by their blind index, months as partitions that
retention drops whole while legal holds keep their records, and versioned migrations."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from alprd.hq import open_store
from alprd.hq.schema import plate_index
from alprd.protocol import read_body, retention
from tests.helpers import make_read


def rec(rid: str, utc: datetime, text: str = "7ABC123", unit: str = "CAR-1") -> dict:
    iso = utc.isoformat().replace("+00:00", "Z")
    return {
        "id": rid,
        "kind": "read",
        "body": {**read_body(make_read(text, utc=iso, unit=unit)), "id": rid},
    }


T0 = datetime(2026, 1, 10, 8, 0, tzinfo=timezone.utc)


def test_the_same_id_from_two_cars_is_two_records(hq_db):
    """Ids are the car's own: before, HQ acked CAR-2's record and never stored it because
    CAR-1 had used the same id."""
    hq = open_store(hq_db)
    hq.add("CAR-1", [rec("r-1", T0, "AAA111", "CAR-1")])
    hq.add("CAR-2", [rec("r-1", T0, "BBB222", "CAR-2")])
    hq.add("CAR-2", [rec("r-1", T0, "BBB222", "CAR-2")])  # a resend: stored once
    assert hq.count() == 2 and hq.duplicates == 1
    found = hq.search("d1", "data_user", "criminal", "BBB222")
    assert [(r["unit_id"], r["text"]) for r in found] == [("CAR-2", "BBB222")]
    hq.close()


def test_plates_are_found_by_their_blind_index_newest_first(hq_db):
    hq = open_store(hq_db)
    hq.add(
        "CAR-1",
        [
            rec(f"r{i}", T0 + timedelta(days=40 * i), "7ABC123" if i % 2 else f"OTHER{i}")
            for i in range(6)
        ],
    )
    found = hq.search("d1", "data_user", "criminal", "7abc123 ")
    assert [r["id"] for r in found] == ["r5", "r3", "r1"]
    assert plate_index(hq.key, "7ABC123") == plate_index(hq.key, " 7abc123")
    assert plate_index(hq.key, "7ABC123") != plate_index(b"\0" * 32, "7ABC123")
    hq.close()


def test_a_search_by_plate_and_state_leaves_out_reads_of_another_state(hq_db):
    """#33: reads of one plate in Nevada, in California, and with no state read: a search for
    the Nevada plate finds the Nevada read and the one whose state was not read (it may be
    that car), never the Californian; the access log records the state asked for."""
    hq = open_store(hq_db)
    states = {"nv": ("NV", 0.99), "ca": ("CA", 0.91), "unread": (None, None)}
    hq.add(
        "CAR-1",
        [
            {**r, "body": {**r["body"], "state": st, "state_confidence": c}}
            for (rid, (st, c)), i in zip(states.items(), range(3))
            for r in [rec(rid, T0 + timedelta(hours=i))]
        ],
    )
    found = hq.search("d1", "data_user", "criminal", "7ABC123", state="NV")
    assert [(r["id"], r["state"], r["state_confidence"]) for r in found] == [
        ("unread", None, None),
        ("nv", "NV", 0.99),
    ]
    assert {r["id"] for r in hq.search("d1", "data_user", "criminal", "7ABC123")} == set(states)
    logged = hq.access_log()[-2]
    assert json.loads(logged["query"]) == {"plate": "7ABC123", "state": "NV"}
    assert logged["result_count"] == 2
    hq.close()


@pytest.mark.policy("POL-09")
def test_whole_months_are_dropped_and_held_records_kept(hq_db):
    """Records across four months; one under a legal hold. When every record of a month is
    past permanent deletion, the month goes whole (on PostgreSQL its partition is dropped),
    the held record stays, visible and searchable, until its hold is released."""
    hq = open_store(hq_db)
    months = [T0 + timedelta(days=31 * i) for i in range(4)]  # Jan..Apr 2026
    hq.add(
        "CAR-1",
        [rec(f"m{i}-{j}", t + timedelta(hours=j)) for i, t in enumerate(months) for j in range(3)],
    )
    hq.place_hold("DR-2026-9", "robbery", ["m0-1"], T0 + timedelta(days=5))
    if hq.backend == "postgresql":
        assert hq.partitions() == [
            "records_y2026m01",
            "records_y2026m02",
            "records_y2026m03",
            "records_y2026m04",
        ]
    # every record of January and February is past five years, 24 hours and a minute
    now = retention.permanent_due(datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert hq.apply_retention(now) == (6, 5)  # Mar+Apr flagged; Jan (but m0-1) + Feb gone
    if hq.backend == "postgresql":
        assert hq.partitions() == ["records_y2026m03", "records_y2026m04"]
    assert hq.visible_ids("administrator") == {
        "m0-1",
        *(f"m{i}-{j}" for i in (2, 3) for j in range(3)),
    }
    found = hq.search(
        "a1",
        "administrator",
        "criminal",
        "7ABC123",
        include_deleted=True,
        ground="court_order",
        request_ref="15.02.00-2031-1",
    )
    assert "m0-1" in {r["id"] for r in found}
    assert hq.apply_retention(now) == (0, 0)  # nothing twice
    hq.release_hold("DR-2026-9", now)
    assert hq.apply_retention(now) == (0, 1)
    assert hq.count() == 6
    hq.close()


def test_a_boundary_month_is_deleted_record_by_record(hq_db):
    hq = open_store(hq_db)
    early, late = T0, T0 + timedelta(days=10)
    hq.add("CAR-1", [rec("early", early), rec("late", late)])
    now = retention.permanent_due(early)
    assert hq.apply_retention(now) == (1, 1)  # "early" deleted alone; "late" flagged
    assert hq.visible_ids("administrator") == {"late"}
    hq.close()


def test_migrations_are_versioned_and_applied_once(hq_db):
    first = open_store(hq_db)
    first.add("CAR-1", [rec("a", T0)])
    first.close()
    again = open_store(hq_db)  # a restart: nothing applied twice, nothing lost
    assert again.count() == 1
    if again.backend == "postgresql":
        assert again.schema_version() == 2  # 2: the cars' own health (#36)
    else:
        assert again.conn.execute("PRAGMA user_version").fetchone()[0] == 3
    again.close()


def test_an_old_sqlite_hq_database_is_migrated(tmp_path):
    """A database made by the reference HQ before #24 (records keyed by id alone, plates
    searched in the bodies) opens, keeps its records and finds them by the plate index."""
    path = tmp_path / "hq.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE records (id TEXT PRIMARY KEY, unit_id TEXT NOT NULL, kind TEXT "
        "NOT NULL, body TEXT NOT NULL, received_utc TEXT NOT NULL, captured_utc "
        "TEXT, logical_deleted_utc TEXT)"
    )
    conn.execute(
        "CREATE TABLE refused (id TEXT PRIMARY KEY, unit_id TEXT NOT NULL, kind TEXT "
        "NOT NULL, body TEXT NOT NULL, reason TEXT NOT NULL, received_utc TEXT NOT "
        "NULL)"
    )
    r = rec("old-1", T0, "OLD0001")
    conn.execute(
        "INSERT INTO records VALUES (?,?,?,?,?,?,NULL)",
        ("old-1", "CAR-1", "read", json.dumps(r["body"]), T0.isoformat(), r["body"]["utc"]),
    )
    conn.commit()
    conn.close()
    hq = open_store(path)
    assert [x["id"] for x in hq.search("d1", "data_user", "criminal", "OLD0001")] == ["old-1"]
    hq.add("CAR-2", [rec("old-1", T0, "NEW0002", "CAR-2")])
    assert hq.count() == 2
    hq.close()


def test_a_lost_database_connection_is_opened_again(pg_server, monkeypatch, tmp_path):
    """PostgreSQL restarted under a worker: the batch that meets the break fails (not
    acknowledged: the car sends it again), and the next one is stored on a new connection."""
    import psycopg

    monkeypatch.chdir(tmp_path)
    url = pg_server.create_database("hq_reconnect")
    hq = open_store(url)
    hq.add("CAR-1", [rec("a", T0)])
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (hq.conn.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        hq.add("CAR-1", [rec("b", T0)])
    hq.add("CAR-1", [rec("b", T0)])
    assert hq.count() == 2
    hq.close()
