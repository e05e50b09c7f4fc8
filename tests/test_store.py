import sqlite3

import pytest

from alprd.store import Store, StoreError
from tests.helpers import KEY, make_hit, make_read


def test_read_and_outbox_written_together_and_survive_reopen(tmp_path):
    path = tmp_path / "alprd.db"
    s = Store(path, KEY)
    r = make_read()
    s.add_read(r, [make_hit(r)])
    s.close()
    s = Store(path, KEY)
    assert s.count("reads") == 1 and s.count("hits") == 1
    pending = s.pending(10)
    assert [p.kind for p in pending] == ["hit", "read"]  # hits go first
    assert pending[1].body["text"] == "7ABC123"
    s.close()


def test_acknowledge_deletes_only_named_records(tmp_path):
    s = Store(tmp_path / "a.db", KEY)
    reads = [make_read(f"ABC{i:03d}") for i in range(5)]
    for r in reads:
        s.add_read(r)
    assert s.acknowledge([reads[0].id, reads[2].id, "not-a-record"]) == 2
    assert s.outbox_depth() == 3
    assert s.count("reads") == 5  # the reads stay (retention is separate)
    s.close()


def test_failed_write_leaves_nothing_half_done(tmp_path):
    s = Store(tmp_path / "a.db", KEY)
    r = make_read()
    s.add_read(r)
    with pytest.raises(StoreError):
        s.add_read(r)  # same id: the whole transaction is refused
    assert s.count("reads") == 1 and s.outbox_depth() == 1
    s.close()


@pytest.mark.policy("POL-01")
def test_read_row_holds_exactly_the_pol01_fields(tmp_path):
    s = Store(tmp_path / "a.db", KEY)
    s.add_read(make_read())
    cols = [c[1] for c in s.db.conn.execute("PRAGMA table_info(reads)")]
    assert set(cols) == {
        "id",
        "text",
        "confidence",
        "char_confidences",
        "state",
        "utc",
        "time_source",
        "camera_id",
        "unit_id",
        "lat",
        "lon",
        "fix_quality",
        "crop",
        "bbox",
        "frames",
        "uplinked",
        "text_hmac",
        "meta",
    }
    # utc, lat and lon live sealed in meta (#23 item 11); opened, the read has every field
    r = s.reads()[0]
    assert {
        "utc",
        "lat",
        "lon",
        "text",
        "crop",
        "state",
        "time_source",
        "camera_id",
        "unit_id",
        "fix_quality",
        "frames",
    } <= set(r) and r["lat"] == 34.05
    s.close()


def test_not_a_database_is_a_clear_error(tmp_path):
    p = tmp_path / "junk.db"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="unusable"):
        Store(p, KEY)


def test_newer_schema_is_refused(tmp_path):
    p = tmp_path / "new.db"
    c = sqlite3.connect(p)
    c.execute("PRAGMA user_version=99")
    c.close()
    with pytest.raises(StoreError, match="upgrade alprd"):
        Store(p, KEY)


def test_full_disk_is_reported_and_stored_data_stays_intact(tmp_path):
    s = Store(tmp_path / "a.db", KEY)
    first = make_read("FIRST01")
    s.add_read(first)
    pages = s.db.conn.execute("PRAGMA page_count").fetchone()[0]
    s.db.conn.execute(f"PRAGMA max_page_count={pages}")  # the disk is now full
    with pytest.raises(StoreError, match="full"):
        for i in range(50):
            s.add_read(make_read(f"FULL{i:03d}"))
    assert s.db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    texts = [r["text"] for r in s.reads()]
    assert "FIRST01" in texts
    assert s.outbox_depth() == len(texts)  # every stored read still has its outbox record
    s.close()


def test_a_read_is_named_once_and_its_body_row_and_page_event_derive_from_it(tmp_path):
    """#35 item 1: alprd.types.READ_FIELDS names a read's fields; the record HQ gets
    (read.v1), the store's row and the page's events derive from it, so a field added to
    Read reaches all of them (or, for the page, is left out on purpose)."""
    from alprd.protocol import read_body, validate
    from alprd.types import READ_FIELDS, read_from_fields
    from alprd.ui import read_event
    from alprd.ui.events import PAGE_FIELDS, SUMMARY_FIELDS

    read = make_read("8XYZ442")
    body = read_body(read)
    validate("read", body)
    assert set(body) == set(READ_FIELDS) | {"crop_jpeg_b64"}
    assert set(PAGE_FIELDS) <= set(READ_FIELDS) and set(SUMMARY_FIELDS) <= set(READ_FIELDS)
    assert read_event(read, []).keys() >= set(PAGE_FIELDS)
    s = Store(tmp_path / "car.db", KEY)
    s.add_read(read, [])
    row = s.read(read.id)
    assert row is not None and read_from_fields(row, row["crop"]) == read
    s.close()
