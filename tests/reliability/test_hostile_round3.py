"""#32, hostile input and faults, round 3: each test is one row of the issue, tried as the
attacker did it (a real broker, a real pseudo-terminal, real files), and asserts what the car
or HQ answers now. Each failed on main at 2e64aba."""

from __future__ import annotations

import gzip
import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alprd.clock import UtcClock
from alprd.gps import FixBuilder, GpsTrack
from alprd.hotlist import Hotlist
from alprd.hotlist.sync import HotlistSync
from alprd.hq import HqEndpoint
from alprd.hq import endpoint as endpoint_mod
from alprd.protocol import UpdateRefused, read_body, sign, up_message
from alprd.types import Fix
from alprd.ui import alert_event
from tests.helpers import make_read, wait_for
from tests.nmea_logs import epoch, sentence
from tests.test_daemon import a_pass, make_daemon
from tests.test_recognize import PASSES, clip_frame

pytestmark = pytest.mark.reliability


class Killed(BaseException):
    """What ends a thread whatever it catches (as a bug in paho, or MemoryError, could)."""


def _car(broker, unit="CAR-1"):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"car-{unit}", protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    return c


def _upload(car, unit: str, text: str) -> None:
    record = {"id": f"r-{text}", "kind": "read", "body": read_body(make_read(text, unit=unit))}
    car.publish(f"alprd/v1/{unit}/up", up_message(unit, [record]), qos=1).wait_for_publish(5)


@pytest.fixture
def hq(broker, tmp_path, monkeypatch):
    ended = []  # threads HQ lets die: seen here, so the suite's thread hook stays for others
    monkeypatch.setattr(threading, "excepthook", lambda args: ended.append(args.thread.name))
    h = HqEndpoint(broker.url, tmp_path / "hq.db", client_id="hq-r3")
    h.start()
    assert h.connected.wait(5) and wait_for(lambda: getattr(h, "subscribed", 1) == 1)
    h.ended = ended
    yield h
    h.stop()


# -- row 1: one car stops HQ for the whole fleet ------------------------------------------------
def test_row1_a_deeply_nested_upload_is_refused_and_hq_goes_on_storing(broker, hq):
    car = _car(broker)
    try:
        deep = b"[" * 100_000 + b"]" * 100_000  # 200 KB, as the attack sent it
        car.publish("alprd/v1/CAR-1/up", deep, qos=1).wait_for_publish(5)
        assert wait_for(lambda: hq.rejected == 1, 10)
        _upload(car, "CAR-1", "AFTER01")
        assert wait_for(lambda: hq.store.count("read") == 1, 10)
        assert hq.network.running() and not hq.ended
    finally:
        car.loop_stop()


def test_row1_hq_threads_killed_every_way_are_started_again(broker, hq, monkeypatch):
    """paho's network thread and the store thread, each ended by what no `except Exception`
    catches; supervise() (the service's loop calls it every turn) starts each again."""
    car = _car(broker)
    try:
        real_parse = endpoint_mod.parse_up_message

        def parse_once_fatal(payload):
            monkeypatch.setattr(endpoint_mod, "parse_up_message", real_parse)
            raise Killed()

        monkeypatch.setattr(endpoint_mod, "parse_up_message", parse_once_fatal)
        _upload(car, "CAR-1", "KILL001")
        assert wait_for(lambda: not hq.network.running(), 10), "paho's thread did not end"
        assert wait_for(lambda: (hq.supervise(), hq.network.running())[1], 10)
        assert hq.network.restarts == 1
        assert wait_for(lambda: hq.subscribed == 2, 20)  # connected and subscribed again
        _upload(car, "CAR-1", "AFTER01")
        assert wait_for(lambda: hq.store.count("read") == 1, 10)

        real_add = hq.store.add_many

        def add_once_fatal(group):
            hq.store.add_many = real_add
            raise Killed()

        hq.store.add_many = add_once_fatal
        _upload(car, "CAR-1", "KILL002")  # not acknowledged: a car sends it again
        assert wait_for(lambda: not hq._storer.is_alive(), 10), "the store thread did not end"
        hq.supervise()
        assert hq.store_restarts == 1
        _upload(car, "CAR-1", "AFTER02")
        assert wait_for(lambda: hq.store.count("read") == 2, 10)
        assert sorted(hq.ended) == ["hq-store", "paho-mqtt-client-hq-r3"]
    finally:
        car.loop_stop()


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"[" * 100_000, "nested deeper than 32"),
        (b'{"v": 1, "a": ' * 40 + b"1" + b"}" * 40, "nested deeper than 32"),
        (b'{"v": 1, "n": NaN}', "NaN is not a number"),
        (b'{"v": 1, "n": -Infinity}', "-Infinity is not a number"),
        (b'{"v": 1, "n": 1e999}', "out of range"),
        (b'{"v": 1, "n": 99999999999999999999}', "out of range"),
        (b'{"v": 1, "n": ' + b"9" * 5000 + b"}", "out of range"),
    ],
)
def test_row1_7_the_one_decoder_refuses_depth_nan_and_huge_numbers(payload, reason):
    from alprd.protocol import strictjson

    with pytest.raises(strictjson.JsonRefused, match=reason):
        strictjson.loads(payload, "message")


# -- row 2: one NMEA field crashes the car ------------------------------------------------------
@pytest.mark.parametrize("field", ["quality", "satellites"])
def test_row2_a_huge_gga_number_refuses_the_sentence_and_the_car_records(tmp_path, field):
    d = make_daemon(tmp_path)
    builder = FixBuilder(d.gps_track)
    huge = "99999999999999999999"
    gga = (
        f"GNGGA,183000.00,3403.00000,N,11814.40000,W,{huge if field == 'quality' else 1},"
        f"{huge if field == 'satellites' else '08'},1.1,70.0,M,-32.0,M,,"
    )
    for raw in (
        sentence("GNRMC,183000.00,A,3403.00000,N,11814.40000,W,20.0,90.0,281126,,,A"),
        sentence(gga),
    ):
        builder.feed(raw.decode(), 100.0)
    builder.flush()
    assert d.gps_track.errors == 1  # the GGA, refused and counted
    fix = d.gps_track.latest()
    assert fix is not None and fix.quality == 1 and fix.satellites is None  # from RMC alone
    d.pipeline.finish(a_pass("NMEA001", 100.0))
    assert [(r["text"], r["fix_quality"]) for r in d.store.reads()] == [("NMEA001", 1)]
    d.shutdown()  # saves the clock floor and closes the store; nothing raised again here
    assert (tmp_path / "car.db").exists()


def test_row2_the_store_refuses_a_number_beyond_64_bits_with_its_own_error(tmp_path):
    from alprd.store import StoreError

    d = make_daemon(tmp_path)
    d.gps_track.add(Fix(lat=34.0, lon=-118.0, mono=100.0, quality=10**20))  # no parser did
    d.pipeline.finish(a_pass("BIG0001", 100.0))  # said in one line and counted, not raised
    assert d.pipeline.dropped_reads == 1
    with pytest.raises(StoreError):
        d.store.add_read(make_read("BIG0002", fix_quality=2**63))
    d.store.close()


# -- row 3: GPS time trusted with no sanity check -----------------------------------------------
def _clock(tmp_path, system: datetime) -> UtcClock:
    return UtcClock(tmp_path / "clock-floor", margin_s=60, now=lambda: system, mono=lambda: 1000.0)


def _gps(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.00Z")


def test_row3_a_week_rollover_gps_time_is_ignored_and_the_system_clock_stamps(tmp_path):
    system = datetime.now(timezone.utc)
    rolled = system - timedelta(weeks=1024)  # the bug: 19.6 years back
    clock = _clock(tmp_path, system)
    utc, source = clock.stamp(1000.0, _gps(rolled), 1000.0)
    assert source == "system" and utc[:10] == system.strftime("%Y-%m-%d")
    assert "rollover" in clock.gps_refused


def test_row3_a_far_future_gps_time_moves_neither_the_stamp_nor_the_floor(tmp_path):
    system = datetime.now(timezone.utc)
    clock = _clock(tmp_path, system)
    spoofed = system.replace(year=2099)
    utc, source = clock.stamp(1000.0, _gps(spoofed), 1000.0)
    assert source == "system" and utc.startswith(str(system.year))
    clock.save()
    again = _clock(tmp_path, system + timedelta(seconds=5))
    assert again.floor is not None and again.floor.year == system.year
    assert again.stamp(1000.0)[1] == "system"  # not "system-unset", as after a 2099 floor


def test_row3_a_car_parked_for_months_still_takes_gps_time(tmp_path):
    """fake-hwclock: the system clock starts where it stopped, months behind GPS."""
    gps = datetime.now(timezone.utc)
    clock = _clock(tmp_path, gps - timedelta(days=150))
    assert clock.stamp(1000.0, _gps(gps), 1000.0) == (_gps(gps).replace(".00Z", ".000Z"), "gps")


def test_row3_hq_keeps_a_record_with_an_impossible_time_for_the_full_period(tmp_path):
    from alprd.hq.records import HqStore

    store = HqStore(tmp_path / "hq.db")
    now = datetime.now(timezone.utc)
    body = read_body(make_read("ROLL001", unit="CAR-1"))
    body["utc"] = _gps(now - timedelta(weeks=1024))
    store.add("CAR-1", [{"id": "rolled", "kind": "read", "body": body}])
    logical, permanent = store.apply_retention(now + timedelta(hours=1))
    assert (logical, permanent) == (0, 0) and store.count("read") == 1
    store.close()


# -- row 5: the GPS heartbeat fed by garbage -----------------------------------------------------
def test_row5_garbage_lines_are_no_proof_of_life(tmp_path):
    from alprd.gps import GpsReader

    log = tmp_path / "garbage.nmea"
    log.write_bytes(
        b"".join([b"$GPRMC,garbage*00\r\n", b"\x00\xff noise\r\n", b"$GPGGA,1,2,3*7F\r\n"] * 10)
    )
    reader = GpsReader(str(log), GpsTrack())
    reader.progress_mono = None
    for raw in log.read_bytes().splitlines():
        reader.handle(raw)
    assert reader.lines == 30 and reader.progress_mono is None  # 30 lines, no progress
    reader.handle(epoch(0, None, None).splitlines()[0])  # a valid RMC saying "no fix"
    assert reader.progress_mono is not None


# -- row 7: a signed entry with expires: NaN -----------------------------------------------------
def test_row7_a_signed_entry_that_expires_at_nan_is_refused(tmp_path):
    key = Ed25519PrivateKey.generate()
    sync = HotlistSync(Hotlist(), key.public_key(), tmp_path)
    entry = {
        "plate": "NAN0001",
        "state": "CA",
        "list_type": "stolen_vehicle",
        "reason": "test",
        "priority": 1,
        "case_number": None,
        "expires": float("nan"),
    }
    body = {
        "v": 1,
        "kind": "hotlist.snapshot",
        "list_version": 5,
        "created_utc": "2026-11-28T00:00:00Z",
        "entries": [entry],
    }
    raw = gzip.compress(json.dumps(body).encode())  # json writes NaN; a forger's HQ would too
    assert b"NaN" in gzip.decompress(raw)
    with pytest.raises(UpdateRefused, match="NaN"):
        sync.apply(key.sign(raw) + raw)
    assert sync.version == 0
    with pytest.raises(ValueError):  # and our own HQ can no longer write one
        sign(body, key)


# -- row 6: the alarm cannot be silenced on a full disk ------------------------------------------
def test_row6_the_alarm_is_silenced_on_a_full_disk_and_recorded_once_there_is_room(tmp_path):
    from alprd.roster import Session
    from alprd.types import HotlistEntry

    officer = Session("tok", "csrf", "1001", "Ofc. Able", "patrol_officer", 0.0, 0.0)
    d = make_daemon(tmp_path)
    d.pipeline.hotlist = Hotlist([HotlistEntry("8XYZ442", "CA", "stolen_vehicle", "test")])
    d.alerts.repeat_suppress_s = 0  # the same plate pass after pass until the disk fills
    d.gps_track.add(Fix(lat=34.0, lon=-118.0, mono=99.0, quality=1))
    d.pipeline.finish(a_pass("7ABC123", 99.5))
    conn = d.store.db.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")  # the disk is now full
    for i in range(30):
        d.pipeline.finish(a_pass("8XYZ442", 100.0 + i))
        if d.pipeline.dropped_reads:
            break
    (alert,) = [alert_event(a) for a in d.alerts.current() if a.not_stored]
    # a small disposition still fits in a page's free bytes where a read with its crop did
    # not; so the card refuses every write now, as a failing SD card remounted read-only does
    conn.execute("PRAGMA query_only=1")
    done = alert_event(d.alerts.acknowledge(alert["hit_id"], officer))  # was a 503
    assert done["acknowledged_utc"] and done["ack_not_recorded"] is True
    assert d.store.dispositions(alert["hit_id"]) == []
    d.alerts.tick()  # still full: kept for later
    assert d.store.dispositions(alert["hit_id"]) == []
    conn.execute("PRAGMA query_only=0")
    conn.execute(f"PRAGMA max_page_count={pages * 4}")  # room again
    d.alerts.tick()
    (row,) = d.store.dispositions(alert["hit_id"])
    assert (row["action"], row["utc"]) == ("acknowledged", done["acknowledged_utc"])
    assert alert_event(d.alerts.current()[0])["ack_not_recorded"] is False
    d.store.close()


# -- row 9: 64 KB of nested JSON posted to the page ----------------------------------------------
def test_row9_nested_json_posted_to_the_page_gets_a_400(tmp_path):
    import http.client

    from alprd.demo.broker import free_port
    from alprd.ui import EventBus, PageServer

    server = PageServer(f"127.0.0.1:{free_port()}", EventBus())
    errors = []
    server.httpd.handle_error = lambda request, address: errors.append(address)
    server.start()
    try:
        host, port = server.httpd.server_address[:2]
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request(
            "POST",
            "/api/signin",
            body=b"[" * 65536,
            headers={"Content-Type": "application/json", "Host": f"{host}:{port}"},
        )
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        assert resp.status == 400 and "nested deeper than" in answer["error"]
        assert errors == []
    finally:
        server.stop()


# -- row 8: odd frames ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "image, refused",
    [
        (np.zeros((0, 0, 3), np.uint8), "0x0 pixels is too small"),
        (np.zeros((480, 640, 2), np.uint8), "shape (480, 640, 2)"),
        (np.zeros((480, 640, 3), np.float32), "type float32"),
        (np.zeros((480, 640, 3), np.uint16), None),
        (np.zeros((480, 640), np.bool_), None),
        (np.zeros((480, 640, 4), np.uint8), None),
        (np.zeros((480, 640, 1), np.uint8), None),
    ],
)
def test_row8_odd_frames_are_read_or_refused_in_one_line_and_the_car_goes_on(
    tmp_path, image, refused, caplog
):
    from alprd.types import Frame

    d = make_daemon(tmp_path)
    d.pipeline.frame("rear", Frame("rear", image, 100.0, 1))
    assert d.pipeline.frames_refused == (1 if refused else 0)
    if refused:
        assert refused in caplog.text and "camera rear: frame 1 not recognised" in caplog.text
    good = clip_frame(PASSES[0]["last_frame"])
    d.pipeline.frame("rear", Frame("rear", good, 101.0, 2))  # the next frame reads as usual
    assert [p.text()[0] for p in d.pipeline.tracker.open] == [PASSES[0]["text"]]
    d.store.close()


# -- row 4: connection exhaustion ---------------------------------------------------------------
def test_row4_2000_idle_connections_and_an_officer_still_signs_in(tmp_path):
    import socket
    import urllib.request

    from tests.reliability.test_security import page as page_fixture
    from tests.reliability.test_security import post

    gen = page_fixture.__wrapped__(tmp_path, lambda: 1000.0)
    url = next(gen)
    host, port = url.split("//")[1].split(":")
    threads_before = threading.active_count()
    idle = []
    try:
        for _ in range(2000):  # connect and say nothing, as slowloris does
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(b"GET / HTTP/1.1\r\nHost: " + host.encode())  # an unfinished request
            idle.append(s)
        status, _, body = post(
            url + "/api/signin", {"badge": "2002", "pin": "2345"}, {"Host": f"{host}:{port}"}
        )
        assert status == 200 and body["role"] == "data_user"
        with urllib.request.urlopen(url + "/health", timeout=10) as r:
            assert json.loads(r.read()) == {"up": True}
        # the server held 64 at most: not a thread for each of the 2,000
        assert threading.active_count() - threads_before <= 64 + 2
    finally:
        for s in idle:
            s.close()
        next(gen, None)


def test_row4_the_control_socket_is_capped_too(tmp_path):
    import socket

    from alprd.selftest.control import ControlSocket, ask_daemon

    path = tmp_path / "control.sock"
    control = ControlSocket(path, lambda **kw: {"status": "ok", **kw})
    control.start()
    idle = []
    try:
        for _ in range(200):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(path))
            idle.append(s)
        out = ask_daemon(path, "tech 4004", timeout_s=10)
        assert out["status"] == "ok" and out["requested_by"] == "tech 4004"
        assert control._server.connections() <= 8
    finally:
        for s in idle:
            s.close()
        control.stop()


# -- row 13: a car whose clock is far ahead of GPS ----------------------------------------------
def test_row13_a_clock_400_days_ahead_still_alerts_and_keeps_its_reads(tmp_path):
    """`./run clock-ahead` made no reads in the soak: the car stamped its reads by GPS, as it
    should, but purged them by the system clock (400 days on: past the 30-day cap) the moment
    HQ acknowledged them. And a want that expires in 30 days, by GPS, was already expired by
    the system clock: no alert. Both now go by the time the car trusts."""
    from alprd.types import HotlistEntry

    gps_now = datetime.now(timezone.utc) - timedelta(days=400)  # the system clock: 400 ahead
    d = make_daemon(tmp_path)
    d.gps_track.last_utc, d.gps_track.last_utc_mono = _gps(gps_now), 100.0
    d.gps_track.add(Fix(lat=34.0, lon=-118.0, mono=100.0, quality=1))
    d.pipeline.hotlist = Hotlist(
        [
            HotlistEntry(
                "8XYZ442",
                "CA",
                "stolen_vehicle",
                "test",
                expires=(gps_now + timedelta(days=30)).timestamp(),
            )
        ]
    )
    d.pipeline.finish(a_pass("8XYZ442", 100.0))
    (read,) = d.store.reads()
    assert read["time_source"] == "gps" and read["utc"][:10] == gps_now.strftime("%Y-%m-%d")
    assert d.pipeline.hits == 1, "the want expires in 30 days by GPS: it must alert"
    for item in d.store.pending(100):  # HQ acknowledges everything
        d.store.acknowledge([item.id])
    d.purge = type(d.purge)(d.store, d.audit, 30, utc=d.pipeline.trusted_utc)
    d.purge.tick(now_mono=0.0)
    assert [r["id"] for r in d.store.reads()] == [read["id"]]  # 0 days old by GPS: kept
    d.store.close()


# -- row 10: a car certificate joins HQ's shared subscription ------------------------------------
def test_row10_a_car_certificate_cannot_take_a_share_of_other_cars_uploads(tmp_path):
    """As the attack did it: CAR-B's certificate subscribes to HQ's shared subscription while
    CAR-A uploads 30 records. With the dynamic-security plugin (broker-config's rules) the
    broker refuses the subscription, and HQ's ingest worker gets all 30."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from alprd.demo.broker import Mosquitto
    from alprd.hq.command import SHARE_GROUP
    from alprd.provision import issue, provision
    from alprd.uplink import TlsFiles

    pki = tmp_path / "pki"
    provision(pki, "CAR-A")
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    issue(pki, "car-b", "CAR-B", ca_key, ca, server=False)
    broker = Mosquitto(
        tls=(pki / "ca.crt", pki / "hq.crt", pki / "hq.key"), cars=["CAR-A", "CAR-B"]
    ).start()

    def client(name: str, cid: str):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        c.tls_set_context(
            TlsFiles(
                str(pki / "ca.crt"), str(pki / f"{name}.crt"), str(pki / f"{name}.key")
            ).context()
        )
        c.got, c.granted = [], []
        c.on_message = lambda cl, u, m: c.got.append(m.topic)
        c.on_subscribe = lambda cl, u, mid, codes, props: c.granted.extend(
            not code.is_failure for code in codes
        )
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        assert wait_for(c.is_connected, 5)
        return c

    clients = []
    try:
        shared = f"$share/{SHARE_GROUP}/alprd/v1/+/up"
        hq, thief, car = (
            client("hq", "hq-ingest"),
            client("car-b", "thief"),
            client("device", "car-a"),
        )
        clients = [hq, thief, car]
        hq.subscribe(shared, qos=1)
        thief.subscribe(shared, qos=1)
        thief.subscribe("alprd/v1/CAR-A/ack", qos=1)  # another car's acks: refused too
        thief.subscribe("alprd/v1/CAR-B/ack", qos=1)  # its own: granted
        assert wait_for(lambda: len(hq.granted) == 1 and len(thief.granted) == 3)
        assert hq.granted == [True] and thief.granted == [False, False, True]
        for _ in range(30):
            car.publish("alprd/v1/CAR-A/up", b"{}", qos=1).wait_for_publish(5)
        assert wait_for(lambda: len(hq.got) == 30, 10), len(hq.got)
        assert thief.got == []
    finally:
        for c in clients:
            c.loop_stop()
            c.disconnect()
        broker.stop()


# -- row 11: HQ bodies at rest --------------------------------------------------------------------
def _hq_bytes(store, db) -> bytes:
    """Everything the database holds, as bytes: the SQLite file (and its WAL), or a dump of
    every table of the PostgreSQL database."""
    if not str(db).startswith("postgresql"):
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return b"".join(
            p.read_bytes()
            for p in db.parent.glob(db.name + "*")
            if not p.name.endswith(("-keys", "-key"))
        )
    out = []
    with store.lock:
        tables = [
            r[0]
            for r in store.conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        for t in tables:
            out += [repr(r) for r in store.conn.execute(f"SELECT * FROM {t}")]
    return "\n".join(out).encode()


def test_row11_hq_seals_plates_positions_and_reasons_at_rest_and_rotates_its_key(hq_db, tmp_path):
    from alprd.hq import open_store
    from alprd.hq.command import rotate_body_key
    from alprd.protocol import hit_body
    from alprd.types import Hit, HotlistEntry

    read = make_read("SEAL042", unit="CAR-1", lat=34.123456, lon=-118.654321)
    hit = Hit(
        id="h-seal",
        read_id=read.id,
        entry=HotlistEntry(
            "SEAL042", "CA", "stolen_vehicle", "grey sedan taken at gunpoint", 1, "CASE-77"
        ),
        rule="exact",
        utc=read.utc,
    )
    store = open_store(hq_db)
    refused_body = {**read_body(make_read("SEAL043", unit="CAR-1")), "confidence": "x"}
    assert store.add(
        "CAR-1",
        [
            {"id": read.id, "kind": "read", "body": read_body(read)},
            {"id": hit.id, "kind": "hit", "body": hit_body(hit, "CAR-1")},
            {"id": "bad", "kind": "read", "body": refused_body},
        ],
    ) == ["bad"]
    store.save_hotlist(3, [{"plate": "SEAL042", "reason": "grey sedan taken at gunpoint"}], True)
    at_rest = _hq_bytes(store, hq_db)
    for clear in (
        b"SEAL042",
        b"SEAL043",
        b"34.123456",
        b"118.654321",
        b"gunpoint",
        b"CASE-77",
    ):  # the capture time stays clear: retention and searches use it
        assert clear not in at_rest, clear
    found = store.search("det", "data_user", "criminal", "SEAL042")
    assert [(r["text"], r["lat"]) for r in found] == [("SEAL042", 34.123456)]
    assert store.refused()[0]["body"].startswith('{"id"')  # opened for an administrator
    assert store.last_hotlist()[1][0]["plate"] == "SEAL042"
    store.close()

    class Args:
        db, index_key, body_keys = str(hq_db), None, None

    pg = str(hq_db).startswith("postgresql")
    ring = Path("hq-body.keys") if pg else Path(str(hq_db) + ".body-keys")
    before = json.loads(ring.read_text())["current"]
    assert rotate_body_key(Args) == 0
    after = json.loads(ring.read_text())
    assert list(after["keys"]) == [after["current"]] and after["current"] != before
    store = open_store(hq_db)
    assert [r["text"] for r in store.search("det", "data_user", "criminal", "SEAL042")] == [
        "SEAL042"
    ]
    assert before.encode() not in _hq_bytes(store, hq_db)  # nothing left under the old key
    assert store.bodies("hit")[0]["case_number"] == "CASE-77"
    assert b"SEAL042" not in _hq_bytes(store, hq_db)  # the access log's searches included
    assert [json.loads(r["query"])["plate"] for r in store.access_log()] == ["SEAL042"] * 2
    store.close()
