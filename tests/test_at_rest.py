"""#23 item 11: what a stolen SD card gives. Positions and times of reads, hit reasons and case
numbers, the roster (PIN hashes) and the hotlist (reasons, case numbers) are sealed with the
data key; deleted rows are overwritten (secure_delete). What stays clear is in SECURITY.md."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from alprd.clock import iso
from alprd.hotlist import Hotlist
from alprd.hotlist.sync import HotlistSync
from alprd.protocol import roster_user
from alprd.roster import Roster
from alprd.store import Store
from alprd.store.crypto import Sealer
from alprd.types import Hit, HotlistEntry
from tests.helpers import KEY, make_read
from tests.test_hotlist_sync import ENTRIES, HQ, snapshot
from tests.test_roster import HQ_KEY, roster_message

LAT, LON = 34.0537219, -118.2428571
REASON, CASE = "AMBER ALERT child abduction suspect", "CASE-2026-88123"


def _files(tmp_path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.policy("POL-13")
def test_positions_times_and_hit_reasons_are_not_in_the_database_file(tmp_path):
    s = Store(tmp_path / "car.db", KEY)
    when = datetime.now(timezone.utc).replace(microsecond=0)
    read = make_read("7XYZ987", utc=iso(when), lat=LAT, lon=LON)
    entry = HotlistEntry("7XYZ987", "CA", "amber_alert", REASON, 1, CASE, source="CLEW")
    s.add_read(read, [Hit("hit-1", read.id, entry, "exact", read.utc)])
    s.close()
    raw = _files(tmp_path)  # the database, its WAL: what the card holds
    for clear in (f"{LAT}", f"{LON}", "34.0537", "118.2428", read.utc, read.utc[:16], REASON, CASE):
        assert clear.encode() not in raw, clear
    row = sqlite3.connect(tmp_path / "car.db").execute("SELECT utc, lat, lon FROM reads").fetchone()
    assert row == ("", None, None)
    s = Store(tmp_path / "car.db", KEY)  # and it all comes back with the key
    back = s.read(read.id)
    assert (back["utc"], back["lat"], back["lon"]) == (read.utc, LAT, LON)
    [(back_read, back_hits)] = s.unclosed_hits(iso(when - timedelta(hours=1)), {"cleared"})
    assert back_read == read  # every field of the read, as stored (alprd.types.READ_FIELDS)
    assert back_hits[0].entry.reason == REASON and back_hits[0].entry.case_number == CASE
    # time searches and retention still work on sealed times
    assert [r["id"] for r in s.search(since=iso(when - timedelta(minutes=1)))] == [read.id]
    assert s.search(until=iso(when - timedelta(minutes=1))) == []
    assert s.db.conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    s.close()


@pytest.mark.policy("POL-13")
def test_the_roster_and_the_hotlist_files_are_sealed(tmp_path):
    sealer = Sealer(KEY)
    users = [roster_user("1001", "Ofc. Sealed Name", "patrol_officer", "1234", "2026-01-01")]
    roster = Roster(HQ_KEY.public_key(), tmp_path, sealer)
    roster.apply(roster_message(users, 1))
    sync = HotlistSync(Hotlist(), HQ.public_key(), tmp_path, sealer=sealer)
    sync.apply(snapshot(1))
    raw = _files(tmp_path)
    assert b"$argon2id$" not in raw and b"Sealed Name" not in raw
    for entry in ENTRIES:
        assert entry.reason.encode() not in raw, entry.reason
        if entry.case_number:
            assert entry.case_number.encode() not in raw
    again = Roster(HQ_KEY.public_key(), tmp_path, sealer)
    assert again.load_saved() and again.get("1001").name == "Ofc. Sealed Name"
    back = HotlistSync(Hotlist(), HQ.public_key(), tmp_path, sealer=sealer)
    assert back.load_saved() and back.version == 1
    other = Roster(HQ_KEY.public_key(), tmp_path, Sealer(bytes(32)))  # another car's key
    assert not other.load_saved()


def test_files_saved_in_clear_by_an_older_alprd_are_read_and_sealed(tmp_path):
    users = [roster_user("1001", "Ofc. Legacy", "patrol_officer", "1234", "2026-01-01")]
    (tmp_path / "roster.bin").write_bytes(roster_message(users, 3))
    roster = Roster(HQ_KEY.public_key(), tmp_path, Sealer(KEY))
    assert roster.load_saved() and roster.version == 3
    assert b"Ofc. Legacy" not in (tmp_path / "roster.bin").read_bytes()


def test_a_database_from_before_sealing_is_migrated(tmp_path):
    import tests.legacy_db as legacy

    path = legacy.make_schema5_db(tmp_path / "old.db", KEY, LAT, LON, REASON)
    s = Store(path, KEY)
    r = s.reads()[0]
    assert (r["lat"], r["lon"]) == (LAT, LON) and r["utc"] == legacy.UTC
    s.close()
    raw = _files(tmp_path)
    assert REASON.encode() not in raw and f"{LAT}".encode() not in raw


def test_a_period_search_pages_through_sealed_times(tmp_path, monkeypatch):
    import alprd.store.reads as reads_module

    monkeypatch.setattr(reads_module, "PAGE", 3)  # small pages: the paging itself is tested
    s = Store(tmp_path / "car.db", KEY)
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=10)
    reads = [make_read(f"P{i:04d}", utc=iso(t0 + timedelta(hours=i))) for i in range(10)]
    for r in reads:
        s.add_read(r)
    got = s.search(since=iso(t0 + timedelta(hours=2)), until=iso(t0 + timedelta(hours=7)))
    assert [r["text"] for r in got] == ["P0006", "P0005", "P0004", "P0003", "P0002"]
    assert [r["text"] for r in s.search(since=iso(t0 + timedelta(hours=8)))] == ["P0009", "P0008"]
    assert [r["text"] for r in s.search(until=iso(t0 + timedelta(hours=1)), limit=5)] == ["P0000"]
    assert len(s.search(since=iso(t0), limit=4)) == 4
    s.close()
