"""POL-09 retention, exact to the minute, with a test clock across two and five years."""
from datetime import datetime, timedelta, timezone

import pytest

from alprd import retention
from alprd.hq import HqStore
from alprd.store import Store
from tests.helpers import KEY, make_read

T0 = datetime(2026, 3, 15, 10, 30, tzinfo=timezone.utc)
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
def test_hq_applies_the_schedule_with_and_without_holds(tmp_path):
    hq = HqStore(tmp_path / "hq.db")
    utc = T0.isoformat().replace("+00:00", "Z")
    hq.add("CAR-1", [{"id": "a", "kind": "read", "body": {"utc": utc}},
                     {"id": "b", "kind": "read", "body": {"utc": utc}}])
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
        "DR-2026-001"]
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
    before = retention.vehicle_purge_before(datetime(2026, 11, 28, tzinfo=timezone.utc), 30)
    assert s.purge_acknowledged(before.isoformat()) == 1
    assert sorted(r["text"] for r in s.reads()) == ["NEW0001", "OLD0002"]
    # the cap can never reach the policy's two years
    assert retention.vehicle_purge_before(T0, 10_000) == T0 - timedelta(days=730)
    s.close()
