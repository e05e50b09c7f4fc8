"""Keys, provisioning, encryption at rest and mutual TLS (POL-08, POL-13)."""

import os
import stat
import threading
import time

import pytest

from alprd.demo.broker import Mosquitto
from alprd.hq import HqEndpoint
from alprd.provision import provision
from alprd.store import Store
from alprd.store.crypto import DataKeyError, load_key
from alprd.uplink import TlsFiles, Uplink, UplinkError
from tests.helpers import KEY, make_read


def test_provision_is_idempotent_and_private_keys_are_0600(tmp_path):
    made = provision(tmp_path / "k", "CAR-9")
    assert {"data.key", "ca.crt", "hq.crt", "device.crt", "hq-hotlist.key"} <= set(made)
    before = {p.name: p.read_bytes() for p in (tmp_path / "k").iterdir()}
    assert provision(tmp_path / "k", "CAR-9") == []
    assert {p.name: p.read_bytes() for p in (tmp_path / "k").iterdir()} == before
    for name in ("data.key", "ca.key", "hq.key", "device.key", "hq-hotlist.key"):
        assert stat.S_IMODE((tmp_path / "k" / name).stat().st_mode) == 0o600, name


@pytest.mark.policy("POL-13")
def test_a_depot_issues_a_car_its_own_files_and_nothing_of_hq_or_the_ca(tmp_path, capsys):
    """#36 finding 10: `alprd provision` on a car also made a CA key and HQ's signing key
    there. `--issue UNIT --out DIR` at the depot writes the car's files alone; the car's
    certificate is the CA's, a copy stays at the depot so `--revoke` finds it, and the TLS
    context the uplink opens from them works."""
    from cryptography import x509

    from alprd.cli import main
    from alprd.provision import revoke

    depot, car = tmp_path / "depot", tmp_path / "car"
    provision(depot, "DEPOT")
    assert main(["provision", "--dir", str(depot), "--issue", "CAR-12", "--out", str(car)]) == 0
    assert "issued CAR-12" in capsys.readouterr().out
    assert sorted(p.name for p in car.iterdir()) == [
        "ca.crt",
        "data.key",
        "device.crt",
        "device.key",
        "hq-hotlist.key.pub",
        "page.crt",
        "page.key",
    ]
    for name in ("data.key", "device.key", "page.key"):
        assert stat.S_IMODE((car / name).stat().st_mode) == 0o600, name
    cert = x509.load_pem_x509_certificate((car / "device.crt").read_bytes())
    ca = x509.load_pem_x509_certificate((depot / "ca.crt").read_bytes())
    assert cert.issuer == ca.subject and "CN=CAR-12" in cert.subject.rfc4514_string()
    TlsFiles(str(car / "ca.crt"), str(car / "device.crt"), str(car / "device.key")).context()
    assert revoke(depot, "CAR-12") == [cert.serial_number]  # the depot's copy is found
    # a folder with no CA: one line, nothing made
    assert main(["provision", "--dir", str(tmp_path / "none"), "--issue", "X", "--out", str(car)])
    assert "no CA in" in capsys.readouterr().err


def test_tls_errors_name_the_setting_and_the_file(tmp_path):
    """#36 finding 10: "uplink TLS files unusable ([Errno 2] ...)" did not say which."""
    provision(tmp_path, "CAR-9")
    gone = tmp_path / "nope.crt"
    with pytest.raises(UplinkError, match=f"uplink.cert_file = {gone}: No such file"):
        TlsFiles(str(tmp_path / "ca.crt"), str(gone), str(tmp_path / "device.key")).context()
    with pytest.raises(UplinkError, match="do not belong together"):
        TlsFiles(
            str(tmp_path / "ca.crt"), str(tmp_path / "device.crt"), str(tmp_path / "hq.key")
        ).context()
    with pytest.raises(UplinkError, match="uplink.ca_file = .*not a PEM CA certificate"):
        TlsFiles(
            str(tmp_path / "data.key"), str(tmp_path / "device.crt"), str(tmp_path / "device.key")
        ).context()


def test_a_key_readable_by_others_is_refused(tmp_path):
    provision(tmp_path, "CAR-9")
    os.chmod(tmp_path / "data.key", 0o644)
    with pytest.raises(DataKeyError, match="chmod 600"):
        load_key(tmp_path / "data.key")
    with pytest.raises(DataKeyError, match="alprd provision"):
        load_key(tmp_path / "missing.key")


@pytest.mark.policy("POL-13")
def test_database_is_unreadable_without_the_key(tmp_path):
    s = Store(tmp_path / "car.db", KEY)
    s.add_read(make_read("SECRET1"))
    s.close()
    raw = (
        (tmp_path / "car.db").read_bytes() + (tmp_path / "car.db-wal").read_bytes()
        if (tmp_path / "car.db-wal").exists()
        else (tmp_path / "car.db").read_bytes()
    )
    assert b"SECRET1" not in raw
    other = Store(tmp_path / "car.db", os.urandom(32))
    with pytest.raises(Exception, match="failed authentication"):
        other.reads()
    assert other.pending(10) == [] and len(other.tampered) == 1
    other.close()


@pytest.mark.policy("POL-14")
def test_altered_ciphertext_is_detected_and_kept(tmp_path):
    s = Store(tmp_path / "car.db", KEY)
    r = make_read("ALTER01")
    s.add_read(r)
    body = bytearray(s.db.conn.execute("SELECT body FROM outbox").fetchone()[0])
    body[20] ^= 0x01  # one bit changed on disk
    s.db.conn.execute("UPDATE outbox SET body = ?", (bytes(body),))
    s.add_read(make_read("OTHER01"))
    s.pending(10)  # finds the altered record and queues the breach report
    got = s.pending(10)
    assert r.id not in {p.id for p in got} and r.id in s.tampered  # kept, never sent
    breach = [p for p in got if p.kind == "breach"]
    assert breach and breach[0].body["distinct_plates_at_risk"] == 2
    assert breach[0].body["tampered_records"] == [r.id]
    assert got[0].kind == "breach"  # ahead of everything else
    s.close()


@pytest.fixture
def pki(tmp_path):
    provision(tmp_path / "k", "CAR-1")
    return tmp_path / "k"


def tls_broker(pki):
    return Mosquitto(tls=(pki / "ca.crt", pki / "hq.crt", pki / "hq.key"))


def wait(cond, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        time.sleep(0.05)
    return cond()


@pytest.mark.policy("POL-08")
def test_mutual_tls_uplink_delivers(pki, tmp_path):
    with tls_broker(pki) as b:
        hq = HqEndpoint(
            b.url,
            tmp_path / "hq.db",
            client_id="hq-tls",
            tls=TlsFiles(str(pki / "ca.crt"), str(pki / "hq.crt"), str(pki / "hq.key")),
        )
        hq.start()
        store = Store(tmp_path / "car.db", KEY)
        store.add_read(make_read("TLS0001"))
        up = Uplink(b.url, store, "CAR-1", tls=device_tls(pki))
        up.start()
        try:
            assert wait(lambda: store.outbox_depth() == 0)
            assert hq.store.count("read") == 1
        finally:
            up.stop()
            hq.stop()
            store.close()


def test_broker_refuses_a_client_without_certificate_or_from_a_foreign_ca(pki, tmp_path):
    import ssl

    import paho.mqtt.client as mqtt

    foreign = tmp_path / "foreign"
    provision(foreign, "EVIL-1")
    with tls_broker(pki) as b:
        for certs in (None, (foreign / "device.crt", foreign / "device.key")):
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="intruder")
            ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
            if certs:
                ctx.load_cert_chain(*map(str, certs))
            c.tls_set_context(ctx)
            accepted, answered = [], threading.Event()
            c.on_connect = lambda *a: (accepted.append(a[3]), answered.set())
            c.on_disconnect = lambda *a: answered.set()
            try:  # the network loop runs here, until the broker answers or drops us
                c.connect("127.0.0.1", b.port)  # TLS 1.3: the refusal comes after the handshake
                deadline = time.monotonic() + 10
                while not answered.is_set() and time.monotonic() < deadline:
                    if c.loop(timeout=0.1) != 0:
                        break  # the connection was closed: refused
                else:
                    assert answered.is_set(), "the broker neither accepted nor refused"
            except (ssl.SSLError, OSError):
                pass
            assert not [rc for rc in accepted if not rc.is_failure], certs


def device_tls(pki) -> TlsFiles:
    return TlsFiles(str(pki / "ca.crt"), str(pki / "device.crt"), str(pki / "device.key"))


def assert_car_refuses(broker, pki, tmp_path, text):
    """The car does not connect to this broker, and its read stays in the outbox."""
    store = Store(tmp_path / "car.db", KEY)
    store.add_read(make_read(text))
    up = Uplink(broker.url, store, "CAR-1", tls=device_tls(pki))
    tried = threading.Event()  # the handshake failed, or the pin check disconnected
    up.client.on_connect_fail = lambda *a: tried.set()
    on_disconnect = up.client.on_disconnect
    up.client.on_disconnect = lambda *a, **k: (on_disconnect(*a, **k), tried.set())
    up.start()
    try:
        assert tried.wait(15), "the car never tried this broker"
        assert not up.connected.is_set() and store.outbox_depth() == 1
    finally:
        up.stop()
        store.close()


def test_uplink_refuses_an_hq_certificate_from_another_ca(pki, tmp_path):
    rogue = tmp_path / "rogue"
    provision(rogue, "CAR-1")  # a rogue HQ with its own CA
    with Mosquitto(tls=(pki / "ca.crt", rogue / "hq.crt", rogue / "hq.key")) as b:
        assert_car_refuses(b, pki, tmp_path, "ROGUE01")


def test_uplink_refuses_an_hq_certificate_that_is_not_the_pinned_one(pki, tmp_path):
    with tls_broker(pki) as b:
        store = Store(tmp_path / "car.db", KEY)
        up = Uplink(
            b.url,
            store,
            "CAR-1",
            tls=TlsFiles(
                str(pki / "ca.crt"), str(pki / "device.crt"), str(pki / "device.key"), "ab" * 32
            ),
        )
        up.start()
        try:
            assert wait(lambda: up.pin_failures >= 1)
            assert not up.connected.is_set()
        finally:
            up.stop()
            store.close()


def test_mqtts_without_tls_files_is_a_clear_error(tmp_path):
    store = Store(tmp_path / "car.db", KEY)
    with pytest.raises(UplinkError, match="mqtts:// needs"):
        Uplink("mqtts://127.0.0.1:8883", store, "CAR-1")
    with pytest.raises(UplinkError, match="alprd provision"):
        Uplink(
            "mqtts://127.0.0.1:8883",
            store,
            "CAR-1",
            tls=TlsFiles(str(tmp_path / "no.crt"), "x", "y"),
        )
    store.close()


def test_uplink_refuses_an_expired_hq_certificate(pki, tmp_path):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from alprd.provision import issue

    old = tmp_path / "old"
    old.mkdir()
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    issue(
        old,
        "hq",
        "127.0.0.1",
        ca_key,
        ca_cert,
        server=True,
        sans=("127.0.0.1",),
        days=1,
        not_before=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10),
    )
    with Mosquitto(tls=(pki / "ca.crt", old / "hq.crt", old / "hq.key")) as b:
        assert_car_refuses(b, pki, tmp_path, "EXPIRE1")
