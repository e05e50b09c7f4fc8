"""POL-09 retention, exact to the minute, with a test clock across two and five years."""

from datetime import datetime, timedelta, timezone

import pytest

from alprd import retention as vehicle
from alprd.hq import open_store
from alprd.protocol import read_body, retention
from alprd.store import Store
from tests.helpers import KEY, make_read

T0 = datetime(2026, 3, 15, 10, 30, tzinfo=timezone.utc)


def record(rid: str, utc: str, text: str = "7ABC123", unit: str = "CAR-1") -> dict:
    """An uplinked read as HQ receives it (a full body: HQ checks it against its schema)."""
    return {
        "id": rid,
        "kind": "read",
        "body": {**read_body(make_read(text, utc=utc, unit=unit)), "id": rid},
    }


MIN = timedelta(minutes=1)


@pytest.mark.policy("POL-09")
def test_boundaries_to_the_minute():
    two = datetime(2028, 3, 15, 10, 30, tzinfo=timezone.utc)
    five = datetime(2031, 3, 16, 10, 31, tzinfo=timezone.utc)  # + 24 h + 1 min
    assert retention.decide(T0, two - MIN) == "keep"
    assert retention.decide(T0, two) == "logical"
    assert retention.decide(T0, five - MIN) == "logical"
    assert retention.decide(T0, five) == "permanent"
    assert retention.decide(T0, five + timedelta(days=400), held=True) == "keep"


def test_leap_day_capture():
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=timezone.utc)
    assert retention.logical_due(leap) == datetime(2030, 2, 28, 12, 0, tzinfo=timezone.utc)


@pytest.mark.policy("POL-09")
def test_hq_applies_the_schedule_with_and_without_holds(hq_db):
    hq = open_store(hq_db)
    utc = T0.isoformat().replace("+00:00", "Z")
    hq.add("CAR-1", [record("a", utc), record("b", utc)])
    hq.place_hold("DR-2026-001", "homicide investigation", ["b"], T0 + timedelta(days=10))
    two = retention.logical_due(T0)
    assert hq.apply_retention(two - MIN) == (0, 0)
    assert hq.apply_retention(two) == (1, 0)  # a flagged; b held
    assert hq.visible_ids("data_user") == {"b"}
    assert hq.visible_ids("administrator") == {"a", "b"}
    five = retention.permanent_due(T0)
    assert hq.apply_retention(five - MIN) == (0, 0)
    assert hq.apply_retention(five) == (0, 1)  # a gone, crop and all
    assert hq.visible_ids("administrator") == {"b"}
    assert hq.holds_due_for_review(T0 + timedelta(days=10) + timedelta(days=365)) == []
    assert hq.holds_due_for_review(datetime(2028, 3, 25, 10, 30, tzinfo=timezone.utc)) == [
        "DR-2026-001"
    ]
    hq.release_hold("DR-2026-001", five)
    assert hq.apply_retention(five) == (0, 1)  # released: b goes too
    assert hq.count() == 0
    hq.close()


@pytest.mark.policy("POL-09")
def test_vehicle_purges_only_acknowledged_reads_past_the_cap(tmp_path):
    s = Store(tmp_path / "car.db", KEY)
    old = make_read("OLD0001", utc="2026-01-01T00:00:00.000Z")
    old_unacked = make_read("OLD0002", utc="2026-01-01T00:00:00.000Z")
    new = make_read("NEW0001", utc="2026-11-27T00:00:00.000Z")
    for r in (old, old_unacked, new):
        s.add_read(r)
    s.acknowledge([old.id, new.id])
    before = vehicle.vehicle_purge_before(datetime(2026, 11, 28, tzinfo=timezone.utc), 30)
    assert s.purge_acknowledged(before.isoformat()) == 1
    assert sorted(r["text"] for r in s.reads()) == ["NEW0001", "OLD0002"]
    # the cap can never reach the policy's two years
    assert vehicle.vehicle_purge_before(T0, 10_000) == T0 - timedelta(days=730)
    s.close()


@pytest.mark.policy("POL-10")
@pytest.mark.policy("POL-02")
def test_logically_deleted_reads_only_for_administrators_with_ground_and_request(hq_db):
    from alprd.hq import AccessRefused

    hq = open_store(hq_db)
    old = T0.isoformat().replace("+00:00", "Z")
    hq.add("CAR-1", [record("old", old), record("new", (T0 + timedelta(days=800)).isoformat())])
    hq.apply_retention(retention.logical_due(T0))  # "old" is now logically deleted
    found = hq.search("d1", "data_user", "criminal", "7ABC123")
    assert [r["id"] for r in found] == ["new"]  # hidden from data users
    refusals = [
        dict(
            username="d1",
            role="data_user",
            purpose="criminal",
            include_deleted=True,
            ground="stalking",
            request_ref="15.02.00-2028-17",
        ),
        dict(
            username="a1",
            role="administrator",
            purpose="criminal",
            include_deleted=True,
            ground="curiosity",
            request_ref="15.02.00-2028-17",
        ),
        dict(
            username="a1",
            role="administrator",
            purpose="criminal",
            include_deleted=True,
            ground="stalking",
            request_ref=" ",
        ),
        dict(username="a1", role="administrator", purpose="gossip"),
        dict(username="t1", role="fleet_technician", purpose="criminal"),
    ]
    for kw in refusals:
        with pytest.raises(AccessRefused):
            hq.search(plate="7ABC123", **kw)
    found = hq.search(
        "a1",
        "administrator",
        "criminal",
        "7ABC123",
        include_deleted=True,
        ground="stalking",
        request_ref="15.02.00-2028-17",
    )
    assert sorted(r["id"] for r in found) == ["new", "old"]
    assert next(r for r in found if r["id"] == "old")["logically_deleted_utc"]
    log = hq.access_log()
    assert len(log) == 7 and sum(1 for e in log if e["refused"]) == 5
    last = log[-1]
    assert (
        last["username"],
        last["action"],
        last["purpose"],
        last["ground"],
        last["request_ref"],
        last["result_count"],
    ) == ("a1", "search_deleted", "criminal", "stalking", "15.02.00-2028-17", 2)
    assert '"7ABC123"' in last["query"]
    hq.close()


def test_a_batch_hq_cannot_store_leaves_its_database_usable(hq_db):
    """(#23, item 2) A record whose body.utc is an object made the insert fail inside
    BEGIN with no ROLLBACK: every later batch from every car then failed ("cannot start a
    transaction within a transaction"). Now such a record is refused alone (schema), and a
    batch that fails for any other reason is rolled back whole."""
    hq = open_store(hq_db)
    bad = {"id": "bad-1", "kind": "read", "body": {"utc": {"not": "a time"}}}
    good = record("good-1", "2026-11-28T18:30:00Z")
    assert hq.add("CAR-1", [good, bad]) == ["bad-1"]
    assert hq.count() == 1 and [r["id"] for r in hq.refused()] == ["bad-1"]
    with pytest.raises(KeyError):
        hq.add("CAR-1", [record("good-2", "2026-11-28T18:31:00Z"), {"id": "no-kind"}])
    assert hq.count() == 1  # nothing of the failed batch
    hq.add("CAR-2", [record("good-3", "2026-11-28T18:32:00Z", unit="CAR-2")])
    assert hq.count() == 2
    hq.close()


def test_published_versions_never_go_back_when_hqs_clock_does(hq_db):
    """(#23, item 3) Hotlist and roster versions came from HQ's wall clock alone: a clock
    stepped back at HQ made every car refuse the next updates as replays."""
    hq = open_store(hq_db)
    assert hq.next_version("hotlist", 1_800_000_000) == 1_800_000_000
    assert hq.next_version("hotlist", 1_700_000_000) == 1_800_000_001  # clock stepped back
    assert hq.next_version("roster", 5) == 5  # each kind has its own sequence
    hq.close()
    again = open_store(hq_db)  # kept across a restart of HQ
    assert again.next_version("hotlist", 1_700_000_000) == 1_800_000_002
    again.close()
