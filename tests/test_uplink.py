"""Uplink against a real mosquitto and the reference HQ endpoint."""

import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from alprd.demo.broker import Mosquitto, free_port
from alprd.hq import HqEndpoint
from alprd.protocol import parse_ack, parse_up
from alprd.store import Store
from alprd.uplink import Uplink
from tests.helpers import KEY, make_hit, make_read, wait_for


@pytest.fixture
def hq(broker, tmp_path):
    h = HqEndpoint(broker.url, tmp_path / "hq.db", client_id="hq-test")
    h.start()
    assert h.connected.wait(5)
    yield h
    h.stop()


def test_records_reach_hq_once_and_leave_the_outbox(broker, hq, tmp_path):
    store = Store(tmp_path / "car.db", KEY)
    reads = [make_read(f"ABC{i:03d}") for i in range(120)]
    for r in reads:
        store.add_read(r, [make_hit(r)] if r.text == "ABC007" else [])
    up = Uplink(broker.url, store, "CAR-1", batch=50)
    up.start()
    try:
        assert wait_for(lambda: store.outbox_depth() == 0), store.outbox_depth()
        assert hq.store.count("read") == 120 and hq.store.count("hit") == 1
        assert hq.store.duplicates == 0
    finally:
        up.stop()
        store.close()


def test_offline_records_wait_and_go_when_broker_appears(tmp_path):
    port = free_port()
    store = Store(tmp_path / "car.db", KEY)
    for i in range(10):
        store.add_read(make_read(f"OFF{i:03d}", unit="CAR-2"))
    up = Uplink(f"mqtt://127.0.0.1:{port}", store, "CAR-2")
    refused = threading.Event()
    up.client.on_connect_fail = lambda *a: refused.set()
    up.start()
    try:
        assert refused.wait(15), "the uplink never tried the (absent) broker"
        assert store.outbox_depth() == 10  # nobody to send to: nothing lost, nothing deleted
        with Mosquitto(port=port) as b:
            h = HqEndpoint(b.url, tmp_path / "hq.db", client_id="hq-late")
            h.start()
            try:
                assert wait_for(lambda: store.outbox_depth() == 0, timeout=20)
                assert h.store.count("read") == 10
            finally:
                h.stop()
    finally:
        up.stop()
        store.close()


def test_resends_back_off_with_jitter_while_hq_does_not_acknowledge(broker, tmp_path):
    """(#23, item 3) Before, a car resent every retry_s for as long as HQ lagged, so a fleet
    resent in lockstep: here 12 copies in 6 s at retry_s 0.5. Now the waits double (with
    jitter) up to RETRY_CAP_S: about 5 copies in the same 6 s."""
    store = Store(tmp_path / "car.db", KEY)
    store.add_read(make_read("LAG0001"))
    copies = []
    subscribed = threading.Event()
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="spy-lag")
    spy.on_message = lambda c, u, msg: copies.append(time.monotonic())
    spy.on_subscribe = lambda *a: subscribed.set()
    spy.connect("127.0.0.1", broker.port)
    spy.subscribe("alprd/v1/CAR-9/up", qos=1)
    spy.loop_start()
    assert subscribed.wait(5)
    up = Uplink(broker.url, store, "CAR-9", retry_s=0.5)  # nobody acknowledges
    up.start()
    try:
        assert wait_for(lambda: copies, 10)
        first = copies[0]
        threading.Event().wait(6.0)  # the span being measured, not a wait for a thread
        sent = [t - first for t in copies if t - first <= 6.0]
        gaps = [b - a for a, b in zip(sent, sent[1:])]
        assert 3 <= len(sent) <= 7, sent
        assert gaps[-1] > gaps[0], gaps  # the waits grow
    finally:
        up.stop()
        spy.loop_stop()
        store.close()


def test_backoff_doubles_up_to_its_cap_and_is_jittered():
    import random

    from alprd.uplink.client import RETRY_CAP_S, backoff_s

    rng = random.Random(7)
    waits = [backoff_s(n, 5.0, rng) for n in range(1, 12)]
    for n, w in enumerate(waits, 1):
        full = min(RETRY_CAP_S, 5.0 * 2 ** (n - 1))
        assert full / 2 <= w <= full
    assert max(waits) <= RETRY_CAP_S and len({round(w, 3) for w in waits[-4:]}) == 4


def test_unacknowledged_records_are_resent_and_hq_drops_duplicates(broker, tmp_path):
    """HQ that stores but whose ack is lost: the car resends, HQ keeps one copy."""
    store = Store(tmp_path / "car.db", KEY)
    r = make_read("DUP0001", unit="CAR-3")
    store.add_read(r)
    got = []
    done = threading.Event()

    def on_message(c, u, msg):
        got.append(json.loads(msg.payload))
        if len(got) >= 2:
            done.set()

    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="spy")
    spy.on_message = on_message
    spy.connect("127.0.0.1", broker.port)
    spy.subscribe("alprd/v1/CAR-3/up", qos=1)
    spy.loop_start()
    up = Uplink(broker.url, store, "CAR-3", retry_s=0.5)
    up.start()
    try:
        assert done.wait(10), "record was not resent without an ack"
        assert all(m["records"][0]["id"] == r.id for m in got)
        assert store.outbox_depth() == 1  # still waiting for HQ
        h = HqEndpoint(broker.url, tmp_path / "hq.db", client_id="hq-dup")
        h.start()
        try:
            assert wait_for(lambda: store.outbox_depth() == 0)
            assert h.store.count("read") == 1
        finally:
            h.stop()
    finally:
        up.stop()
        spy.loop_stop()
        store.close()


@pytest.mark.parametrize(
    "payload,reason",
    [
        (b"not json", "not JSON"),
        (b'{"v": 2, "ids": []}', "'v': 1"),
        (b'{"v": 1, "ids": "abc"}', "list of record ids"),
        (b'{"v": 1, "ids": [' + b'"x",' * 70000 + b'"y"]}', "exceeds"),
    ],
)
def test_malformed_ack_is_rejected_with_reason(payload, reason):
    with pytest.raises(ValueError, match=reason):
        parse_ack(payload)


def test_malformed_ack_on_the_wire_loses_nothing(broker, hq, tmp_path, caplog):
    store = Store(tmp_path / "car.db", KEY)
    up = Uplink(broker.url, store, "CAR-4")
    up.start()
    try:
        assert up.connected.wait(5)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="evil")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        pub.publish("alprd/v1/CAR-4/ack", b"\xff\xfe garbage", qos=1).wait_for_publish(5)
        assert wait_for(lambda: "rejected message" in caplog.text)
        store.add_read(make_read("AFTER01", unit="CAR-4"))
        up.wake()
        assert wait_for(lambda: store.outbox_depth() == 0)
        pub.loop_stop()
    finally:
        up.stop()
        store.close()


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        b'{"v":1}',
        b'{"v":1,"unit_id":"A","records":[{}]}',
        b'{"v":1,"unit_id":"A","records":[{"id":"1","kind":"x","body":{}}]}',
    ],
)
def test_hq_rejects_malformed_uplink(payload):
    with pytest.raises(ValueError):
        parse_up(payload)


def test_bandwidth_cap_paces_the_uplink(broker, hq, tmp_path):
    store = Store(tmp_path / "car.db", KEY)
    for i in range(20):
        store.add_read(make_read(f"CAP{i:04d}", unit="CAR-5"))
    size = len(json.dumps({"records": [{"body": p.body} for p in store.pending(1)]}))
    up = Uplink(broker.url, store, "CAR-5", batch=1, max_bytes_per_s=size * 10)
    t0 = time.monotonic()
    up.start()
    try:
        assert wait_for(lambda: store.outbox_depth() == 0, timeout=20)
        elapsed = time.monotonic() - t0
    finally:
        up.stop()
        store.close()
    assert elapsed >= 1.5  # 20 messages at about 10 a second: not all at once
