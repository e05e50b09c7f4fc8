"""#23 item 2: HQ validates every record body against docs/schemas/v1, rolls back on any
error, refuses (quarantines, with its reason) only the bad record, and keeps acknowledging
and storing the rest, for every car."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from alprd.protocol import read_body, up_message
from alprd.store import Store
from alprd.uplink import Uplink
from tests.helpers import KEY, make_read, wait_for
from tests.test_uplink import hq  # noqa: F401  (the fixture: HQ on the test broker)


def _records(*reads, bad: dict | None = None):
    out = [{"id": r.id, "kind": "read", "body": read_body(r)} for r in reads]
    if bad:
        for rid, change in bad.items():
            body = read_body(make_read("BAD0001", unit="CAR-A"))
            body.update(change)
            out.append({"id": rid, "kind": "read", "body": body})
    return out


def test_bad_bodies_are_refused_one_by_one_and_the_rest_is_stored_and_acked(broker, hq, tmp_path):
    import paho.mqtt.client as mqtt

    acks = []
    car = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="car-a")
    car.on_message = lambda c, u, m: acks.append(json.loads(m.payload))
    car.connect("127.0.0.1", broker.port)
    car.subscribe("alprd/v1/CAR-A/ack", qos=1)
    car.loop_start()
    try:
        good = [make_read(f"GOOD{i:03d}", unit="CAR-A") for i in range(3)]
        batch = _records(
            *good,
            bad={
                "bad-utc-object": {"utc": {"$gt": ""}},
                "bad-utc-text": {"utc": "x" * 12},
                "bad-lat": {"lat": "north"},
                "bad-extra": {"shell": "rm -rf /"},
            },
        )
        car.publish("alprd/v1/CAR-A/up", up_message("CAR-A", batch), qos=1)
        assert wait_for(lambda: acks, 10), "no ack"
        acked = set(acks[0]["ids"])
        assert acked == {r["id"] for r in batch}  # all acked: the bad ones are kept aside
        assert hq.store.count("read") == 3
        refused = {r["id"]: r["reason"] for r in hq.store.refused()}
        assert set(refused) == {"bad-utc-object", "bad-utc-text", "bad-lat", "bad-extra"}
        assert "utc" in refused["bad-utc-text"] and "lat" in refused["bad-lat"]
        # the connection is not left inside a transaction: the next batch, from another car,
        # is stored; and retention runs over everything HQ holds
        store = Store(tmp_path / "car-b.db", KEY)
        store.add_read(make_read("NEXT001", unit="CAR-B"), [])
        up = Uplink(broker.url, store, "CAR-B", retry_s=1)
        up.start()
        try:
            assert wait_for(lambda: store.outbox_depth() == 0, 15)
        finally:
            up.stop()
            store.close()
        assert hq.store.count("read") == 4
        later = datetime.now(timezone.utc) + timedelta(days=400)
        hq.store.apply_retention(later)
    finally:
        car.loop_stop()
        car.disconnect()


def test_a_duplicate_of_a_refused_record_is_not_stored_twice(hq_db):
    from alprd.hq import open_store

    store = open_store(hq_db)
    batch = _records(bad={"r1": {"utc": "not a time"}})
    assert store.add("CAR-A", batch) == ["r1"]
    assert store.add("CAR-A", batch) == ["r1"]
    assert len(store.refused()) == 1 and store.count() == 0
    store.close()
