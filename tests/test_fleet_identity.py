"""#24 (identity, first part): a car's certificate is worth only that car's data. On a broker
with the ACL the project generates (alprd.protocol.acl), a car cannot read another car's
topics, forge acks, publish the hotlist, roster or commands, or upload as another car; HQ
refuses a record whose body names another unit than the topic it came on."""

from __future__ import annotations

import json
import ssl
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from alprd.demo.broker import Mosquitto
from alprd.hq import HqEndpoint
from alprd.protocol import read_body, up_message
from alprd.provision import issue, provision
from alprd.uplink import TlsFiles
from tests.helpers import make_read, wait_for


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    provision(folder, "CAR-A")
    ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    issue(folder, "car-b", "CAR-B", ca_key, ca, server=False)
    return folder


class Client:
    """A raw MQTT 5 client with a certificate: what a thief could do with it."""

    def __init__(self, broker, pki, name: str):
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"raw-{name}", protocol=mqtt.MQTTv5
        )
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / f"{name}.crt"), str(pki / f"{name}.key"))
        self.c.tls_set_context(ctx)
        self.got: list[tuple[str, bytes]] = []
        self.granted: dict[int, list] = {}
        self.ready = threading.Event()
        self.c.on_connect = lambda *a, **k: self.ready.set()
        self.c.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        self.c.on_subscribe = lambda c, u, mid, codes, props: self.granted.__setitem__(mid, codes)
        self.c.connect("127.0.0.1", broker.port)
        self.c.loop_start()
        assert self.ready.wait(10)

    def subscribe(self, topic: str):
        _, mid = self.c.subscribe(topic, qos=1)
        assert wait_for(lambda: mid in self.granted, 5)
        return self.granted[mid][0]

    def publish(self, topic: str, payload: bytes, retain=False):
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture
def fleet(pki, tmp_path):
    broker = Mosquitto(tls=(pki / "ca.crt", pki / "hq.crt", pki / "hq.key")).start()
    hq = HqEndpoint(
        broker.url,
        tmp_path / "hq.db",
        client_id="hq-acl",
        tls=TlsFiles(str(pki / "ca.crt"), str(pki / "hq.crt"), str(pki / "hq.key")),
    )
    hq.start()
    assert hq.connected.wait(10)
    a = Client(broker, pki, "device")  # CAR-A's own certificate
    b = Client(broker, pki, "car-b")  # CAR-B's: stolen, in a thief's hands
    yield broker, hq, a, b
    for c in (a, b):
        c.close()
    hq.stop()
    broker.stop()


def test_a_car_cannot_read_another_cars_topics(fleet, pki):
    _, hq, a, b = fleet
    # mosquitto grants any subscription and applies the ACL to each message delivered
    for topic in ("alprd/v1/CAR-A/ack", "alprd/v1/CAR-A/cmd", "alprd/v1/+/up", "#"):
        b.subscribe(topic)
    for topic in ("alprd/v1/CAR-A/ack", "alprd/v1/CAR-A/cmd"):
        a.subscribe(topic)
    read = make_read("MINE001", unit="CAR-A")
    a.publish(
        "alprd/v1/CAR-A/up",
        up_message("CAR-A", [{"id": read.id, "kind": "read", "body": read_body(read)}]).encode(),
    )
    assert wait_for(lambda: hq.store.count() == 1, 10)  # HQ stored it and acked CAR-A
    hq.send_command(
        "CAR-A",
        "selftest",
        serialization.load_pem_private_key((pki / "hq-hotlist.key").read_bytes(), None),
    )
    assert wait_for(
        lambda: {t for t, _ in a.got} == {"alprd/v1/CAR-A/ack", "alprd/v1/CAR-A/cmd"}, 10
    ), a.got
    time.sleep(0.5)
    assert b.got == []  # neither CAR-A's upload, its ack (naming its records), nor its command


def test_a_car_cannot_forge_acks_lists_commands_or_another_cars_uploads(fleet):
    _, hq, a, b = fleet
    for topic in (
        "alprd/v1/CAR-A/ack",
        "alprd/v1/CAR-A/cmd",
        "alprd/v1/hotlist",
        "alprd/v1/roster",
    ):
        assert not a.subscribe(topic).is_failure
    b.publish("alprd/v1/CAR-A/ack", json.dumps({"v": 1, "ids": ["x"]}).encode())
    b.publish("alprd/v1/CAR-A/cmd", b"forged")
    b.publish("alprd/v1/hotlist", b"forged", retain=True)
    b.publish("alprd/v1/roster", b"forged", retain=True)
    read = make_read("SPOOF01", unit="CAR-A")
    b.publish(
        "alprd/v1/CAR-A/up",
        up_message("CAR-A", [{"id": read.id, "kind": "read", "body": read_body(read)}]).encode(),
    )
    time.sleep(1.5)
    assert a.got == [] and hq.store.count() == 0


def test_hq_refuses_a_record_that_names_another_unit(fleet):
    _, hq, _, b = fleet
    mine = make_read("OWN0001", unit="CAR-B")
    theirs = make_read("SPOOF02", unit="CAR-A")  # on CAR-B's own topic, naming CAR-A
    b.publish(
        "alprd/v1/CAR-B/up",
        up_message(
            "CAR-B",
            [
                {"id": mine.id, "kind": "read", "body": read_body(mine)},
                {"id": theirs.id, "kind": "read", "body": read_body(theirs)},
            ],
        ).encode(),
    )
    assert wait_for(lambda: hq.store.count() == 1 and hq.store.refused(), 10)
    refused = hq.store.refused()
    assert [r["id"] for r in refused] == [theirs.id] and "CAR-A" in refused[0]["reason"]
