"""#24: HQ for a fleet. Ingest workers on a shared subscription over mutual TLS with the
project's ACL, one killed mid-stream (nothing lost, nothing twice); a revoked certificate
refused by the broker; a hotlist import that removes a want withdraws the car's open alert
within 2 s; each car's health at HQ (`alprd hq status`, the fleet page)."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from alprd.demo.broker import Mosquitto, free_port
from alprd.hq import HqEndpoint, open_store
from alprd.provision import issue, provision, revoke
from alprd.store import Store
from alprd.uplink import TlsFiles, Uplink
from tests.helpers import KEY, make_hit, make_read, wait_for

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def pki(tmp_path):
    folder = tmp_path / "pki"
    provision(folder, "CAR-A")
    ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    issue(folder, "car-b", "CAR-B", ca_key, ca, server=False)
    return folder


def tls(pki: Path, name: str) -> TlsFiles:
    return TlsFiles(str(pki / "ca.crt"), str(pki / f"{name}.crt"), str(pki / f"{name}.key"))


def worker(broker, pki: Path, db: str, key: Path, n: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alprd",
            "hq",
            "--role",
            "ingest",
            "--broker",
            broker.url,
            "--db",
            db,
            "--index-key",
            str(key),
            "--client-id",
            f"ingest-{n}",
            "--tls-ca",
            str(pki / "ca.crt"),
            "--tls-cert",
            str(pki / "hq.crt"),
            "--tls-key",
            str(pki / "hq.key"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    assert wait_for(lambda: any("ingest worker" in x for x in lines), 20), lines
    return proc


def test_ingest_workers_share_the_load_and_a_killed_one_loses_nothing(pki, pg_server, tmp_path):
    db = pg_server.create_database(f"hq_workers_{os.getpid()}")
    key = tmp_path / "hq-index.key"
    broker = Mosquitto(tls=(pki / "ca.crt", pki / "hq.crt", pki / "hq.key")).start()
    procs = [worker(broker, pki, db, key, n) for n in (1, 2)]
    store = Store(tmp_path / "car.db", KEY)
    up = Uplink(broker.url, store, "CAR-A", batch=10, retry_s=1.0, tls=tls(pki, "device"))
    hq = open_store(db, key)
    try:
        time.sleep(1.0)  # both workers subscribed
        for i in range(400):
            store.add_read(make_read(f"W{i:05d}", unit="CAR-A"))
        up.start()
        assert wait_for(lambda: hq.count() >= 100, 30)
        procs[0].send_signal(signal.SIGKILL)  # mid-stream, batches unacknowledged
        procs[0].wait(5)
        assert wait_for(lambda: store.outbox_depth() == 0, 60), store.outbox_depth()
        assert hq.count("read") == 400  # every read, once: (unit, id) is the key
        rows = hq.conn.execute("SELECT count(DISTINCT id), count(*) FROM records").fetchone()
        assert rows == (400, 400)
        assert [u["unit_id"] for u in hq.units()] == ["CAR-A"]
    finally:
        up.stop()
        store.close()
        hq.close()
        for p in procs:
            p.kill()
            p.wait(5)
        broker.stop()


def _connects(broker, pki: Path, name: str) -> bool:
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{name}", protocol=mqtt.MQTTv5
    )
    c.tls_set_context(tls(pki, name).context())
    try:
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        ok = wait_for(c.is_connected, 3)
        c.loop_stop()
        c.disconnect()
        return ok
    except (ssl.SSLError, OSError):
        return False


def test_a_revoked_certificate_is_refused_by_the_broker(pki, capsys):
    """`alprd provision --revoke CAR-B` (a stolen car): the broker, restarted on the new
    revocation list, refuses CAR-B's certificate; CAR-A and HQ still connect."""
    from alprd.cli import main

    revoke(pki, "NOBODY")  # an empty list, as an agency starts with
    broker = Mosquitto(
        tls=(pki / "ca.crt", pki / "hq.crt", pki / "hq.key"), crl=pki / "ca.crl"
    ).start()
    try:
        assert _connects(broker, pki, "car-b") and _connects(broker, pki, "device")
        assert main(["provision", "--dir", str(pki), "--revoke", "CAR-B"]) == 0
        assert "revoked 1 certificate(s) of CAR-B" in capsys.readouterr().out
        assert main(["provision", "--dir", str(pki), "--revoke", "CAR-B"]) == 1  # once
        listed = json.loads((pki / "revoked.json").read_text())
        assert [e["cn"] for e in listed] == ["CAR-B"]
        broker.restart()
        assert not _connects(broker, pki, "car-b")
        assert _connects(broker, pki, "device") and _connects(broker, pki, "hq")
    finally:
        broker.stop()


@pytest.mark.policy("POL-12")
def test_an_import_that_removes_a_want_withdraws_the_open_alert(pki, tmp_path):
    """HQ publishes the first import as a snapshot, the next as a delta against it: the want
    removed is a cancellation, and the car closes its open alert (its time: bench/hotlist.py)."""
    from alprd.config import load
    from alprd.daemon import Daemon
    from alprd.hq.hotlists import HotlistWatch
    from alprd.hq.keys import signing_key

    broker = Mosquitto(tls=(pki / "ca.crt", pki / "hq.crt", pki / "hq.key")).start()
    key = signing_key(pki / "hq-hotlist.key")
    hq = HqEndpoint(
        broker.url, tmp_path / "hq.db", client_id="hq-leader", ingest=False, tls=tls(pki, "hq")
    )
    hq.start()
    hotlist = tmp_path / "wants.csv"
    hotlist.write_text(
        "plate,state,list_type,reason,priority,case_number\n"
        "8XYZ442,CA,stolen_vehicle,stolen 2026-11-02,1,SV-1\n"
        "5KLM901,,bolo,armed robbery suspect,2,\n"
    )
    watch = HotlistWatch(hq, hotlist, "csv", key)
    cfg = load(
        None,
        environ={},
        defaults={
            "vehicle": {"unit_id": "CAR-A"},
            "store": {"path": str(tmp_path / "car.db"), "key_file": str(pki / "data.key")},
            "uplink": {
                "broker": broker.url,
                "ca_file": str(pki / "ca.crt"),
                "cert_file": str(pki / "device.crt"),
                "key_file": str(pki / "device.key"),
            },
            "hotlist": {"public_key": str(pki / "hq-hotlist.key.pub")},
        },
    )
    d = Daemon(cfg, ui=False)
    q, _ = d.bus.subscribe()
    d.inbox.start()
    d.uplink.start()
    try:
        assert hq.connected.wait(10) and d.uplink.connected.wait(10)
        watch.poll()  # the first import: a snapshot, retained
        assert wait_for(lambda: d.hotlist.match("8XYZ442"), 5)
        v1 = d.sync.version
        seen = make_read("8XYZ442", unit="CAR-A")  # the car read it: an open alert
        hit = make_hit(seen)
        d.store.add_read(seen, [hit])
        d.alerts.open(seen, [hit])
        assert [a.hit_id for a in d.alerts.current()] == [hit.id]
        # the next import drops the stolen car (recovered): a delta, a cancellation
        hotlist.write_text(
            "plate,state,list_type,reason,priority,case_number\n"
            "5KLM901,,bolo,armed robbery suspect,2,\n"
        )
        watch.poll()
        while (ev := q.get(timeout=30))["type"] != "cancel":  # the order; bench/hotlist.py
            pass  # measures the time (#32 #12)
        assert ev["plates"] == ["8XYZ442"] and ev["version"] > v1
        assert not d.hotlist.match("8XYZ442") and d.hotlist.match("5KLM901")
        assert d.sync.refused == 0 and d.alerts.current() == []
        last = hq.store.last_hotlist()
        assert last[0] == d.sync.version and not last[2]  # sent as a delta
        assert hq.refresh_snapshot(key) == d.sync.version  # retained, for later cars
        time.sleep(0.5)
        assert d.sync.refused == 0  # the car holds that version: accepted, nothing changes
    finally:
        d.uplink.stop()
        d.inbox.stop()
        d.store.close()
        hq.stop()
        broker.stop()


def _selftest(unit: str, utc: str, status: str = "ok") -> dict:
    return {
        "id": f"st-{utc}",
        "kind": "selftest",
        "body": {
            "id": f"st-{utc}",
            "unit_id": unit,
            "utc": utc,
            "command_id": None,
            "results": [
                {"component": "camera rear", "status": status, "symptom": "", "details": {}}
            ],
        },
    }


def _ticket(unit: str, utc: str) -> dict:
    return {
        "id": f"tt-{utc}",
        "kind": "ticket",
        "body": {
            "id": f"tt-{utc}",
            "form": "11.03.00",
            "utc": utc,
            "unit_id": unit,
            "vehicle": "Shop 12345",
            "reporting_employee": "tech",
            "place": None,
            "components": [{"component": "GPS", "symptom": "no fix"}],
            "diagnostics": [
                {"component": "GPS", "status": "fail", "symptom": "no fix", "details": {}}
            ],
        },
    }


def test_fleet_health_in_hq_status_and_on_the_page(hq_db, capsys):
    """Per car: last seen, hotlist version and age, outbox depth, last self-test, open
    tickets, uplink lag; a stale list and a growing lag are flagged."""
    from datetime import datetime, timedelta, timezone

    from alprd.cli import main
    from alprd.hq.fleet import serve_page
    from alprd.protocol import read_body

    now = datetime.now(timezone.utc)

    def stamp(minutes_ago: float) -> str:
        return (now - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")

    def read(unit: str, minutes_ago: float) -> dict:
        r = make_read("7ABC123", unit=unit, utc=stamp(minutes_ago))
        return {"id": r.id, "kind": "read", "body": read_body(r)}

    hq = open_store(hq_db)
    hq.add(
        "CAR-A",
        [read("CAR-A", 0.2), _ticket("CAR-A", stamp(30))],
        {"hotlist_version": 7, "hotlist_age_s": 120.0, "outbox_depth": 3},
    )
    hq.add("CAR-A", [_selftest("CAR-A", stamp(0.1))], {"outbox_depth": 0})  # fixed
    hq.add("CAR-B", [_ticket("CAR-B", stamp(1))], {"hotlist_version": 5, "hotlist_age_s": 90_000.0})
    hq.add("CAR-B", [read("CAR-B", 20)], {"outbox_depth": 250})  # 20 min late: a backlog
    hq.add(
        "CAR-B", [read("CAR-B", 30)], {"outbox_depth": 400, "nonsense": "x", "hotlist_version": -3}
    )  # and growing
    hq.close()
    args = ["hq", "status", "--db", str(hq_db)]  # needs no plate index key
    assert main(args + ["--json"]) == 0
    rows = {r["unit_id"]: r for r in json.loads(capsys.readouterr().out)}
    a, b = rows["CAR-A"], rows["CAR-B"]
    assert (a["hotlist_version"], a["outbox_depth"], a["open_tickets"], a["flags"]) == (7, 0, 0, [])
    assert a["last_selftest_utc"] and a["last_seen_s"] < 60 and a["records"] == 3
    assert (b["hotlist_version"], b["outbox_depth"], b["open_tickets"]) == (5, 400, 1)
    assert b["uplink_lag_s"] >= 1790 and b["hotlist_age_s"] >= 90_000
    # #36: a failed self-test's open ticket is a flag, not "ok"
    assert b["flags"] == ["self-test failed: 1 open ticket(s)", "hotlist stale", "lag growing"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "2 cars, 1 flagged" in text and "hotlist stale, lag growing" in text
    version_time = datetime.fromtimestamp(7, timezone.utc).strftime("%Y-%m-%d %H:%MZ")
    assert version_time in text  # a hotlist version is shown as the time HQ published it
    store = open_store(hq_db)
    port = free_port()
    page = serve_page(
        store, "127.0.0.1", port, lambda: {"broker": "b:8883", "connected": False, "for_s": 75}
    )
    try:
        html = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
        assert html.index("CAR-B") < html.index("CAR-A")  # flagged cars first
        assert "broker b:8883: NOT CONNECTED for 75 s" in html
        got = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/fleet.json", timeout=5).read()
        )
        assert {r["unit_id"] for r in got} == {"CAR-A", "CAR-B"}
    finally:
        page.shutdown()
        store.close()


def test_hq_flags_the_parts_a_car_says_are_failing(hq_db, capsys):
    """#36: the car's own strip (camera, GPS, HQ link, hotlist) reaches the fleet view with
    each batch; a failing part is a flag with the car's words, a malformed one is dropped."""
    from alprd.carstatus import PARTS
    from alprd.cli import main
    from alprd.hq import schema
    from alprd.hq.fleet import page
    from alprd.hq.store import open_store

    assert schema.CAR_PARTS == PARTS
    problem = "Camera rear is not working (reconnecting: cannot open /dev/video0)"
    hq = open_store(hq_db)
    hq.add(
        "CAR-C",
        [],
        {
            "outbox_depth": 1,
            "health": {"camera": "fail", "gps": "ok", "uplink": "ok", "hotlist": "warn", "x": 1},
            "problems": [problem, 7],
            "models": "alprd-9",
        },
    )
    hq.add("CAR-D", [], {"health": "broken", "problems": "x"})  # a bad status: dropped
    hq.close()
    assert main(["hq", "status", "--db", str(hq_db), "--json"]) == 0
    rows = {r["unit_id"]: r for r in json.loads(capsys.readouterr().out)}
    c, d = rows["CAR-C"], rows["CAR-D"]
    assert c["health"] == {"camera": "fail", "gps": "ok", "uplink": "ok", "hotlist": "warn"}
    assert c["problems"] == [problem] and c["flags"] == ["camera failing"]
    assert (d["health"], d["problems"], d["flags"]) == ({}, [], [])
    assert (c["models"], d["models"]) == ("alprd-9", None)  # #37: the models each car uses
    html = page(list(rows.values()))
    assert "<span class='chip fail'>CAMERA</span>" in html and problem in html


def test_broker_config_writes_the_fleet_listener_and_acl(pki, tmp_path, capsys):
    """`alprd hq broker-config`: mosquitto's listener for the fleet, as the demo's broker
    runs it (the same lines): mutual TLS, identity from the certificate, the access rules
    (the dynamic-security plugin, a role per car), CRL, cap."""
    from alprd.cli import main
    from alprd.protocol.acl import MAX_PACKET_BYTES, dynsec_plugin

    revoke(pki, "NOBODY")
    out = tmp_path / "conf.d"
    cars = tmp_path / "cars.txt"
    cars.write_text("# the fleet\nCAR-A\nCAR-B\n")
    assert (
        main(
            [
                "hq",
                "broker-config",
                "--out",
                str(out),
                "--listen",
                "0.0.0.0:8883",
                "--tls-ca",
                str(pki / "ca.crt"),
                "--tls-cert",
                str(pki / "hq.crt"),
                "--tls-key",
                str(pki / "hq.key"),
                "--crl",
                str(pki / "ca.crl"),
                "--cars",
                str(cars),
            ]
        )
        == 0
    )
    conf = (out / "alprd-fleet.conf").read_text().splitlines()
    for line in (
        "listener 8883 0.0.0.0",
        "require_certificate true",
        "use_identity_as_username true",
        "allow_anonymous false",
        f"max_packet_size {MAX_PACKET_BYTES}",
        f"crlfile {pki / 'ca.crl'}",
        f"plugin {dynsec_plugin()}",
        f"plugin_opt_config_file {out / 'alprd-fleet-dynsec.json'}",
    ):
        assert line in conf, line
    rules = json.loads((out / "alprd-fleet-dynsec.json").read_text())
    assert [c["username"] for c in rules["clients"]] == ["CAR-A", "CAR-B", "127.0.0.1"]
    assert rules["defaultACLAccess"]["subscribe"] is False
    assert main(["hq", "broker-config", "--out", str(out)]) == 2  # no certificates: refused
    assert "needs --tls-ca" in capsys.readouterr().err
    cars.write_text("CAR-A\n#\n")  # a name no ACL can hold
    assert (
        main(
            [
                "hq",
                "broker-config",
                "--out",
                str(out),
                "--tls-ca",
                str(pki / "ca.crt"),
                "--tls-cert",
                str(pki / "hq.crt"),
                "--tls-key",
                str(pki / "hq.key"),
                "--cars",
                str(cars),
            ]
        )
        == 0
    )  # '#' is a comment line here
    cars.write_text("CAR-A\n+\n")
    assert (
        main(
            [
                "hq",
                "broker-config",
                "--out",
                str(out),
                "--tls-ca",
                str(pki / "ca.crt"),
                "--tls-cert",
                str(pki / "hq.crt"),
                "--tls-key",
                str(pki / "hq.key"),
                "--cars",
                str(cars),
            ]
        )
        == 2
    )
    assert "cannot be used" in capsys.readouterr().err


def test_hq_says_when_the_broker_cannot_be_reached_and_when_it_connects(tmp_path, caplog):
    """#36 finding 7: `alprd hq` said "listening on mqtt://..." and then nothing while the
    broker was down, and its page kept showing "ok". Now one line a minute while it cannot
    reach the broker, one when it connects, and the page's header shows the link."""
    import logging

    from alprd.hq import endpoint
    from alprd.hq.fleet import page

    caplog.set_level(logging.INFO, "alprd.hq.endpoint")
    port = free_port()
    hq = HqEndpoint(f"mqtt://127.0.0.1:{port}", tmp_path / "hq.db", client_id="hq-down")
    old, endpoint.LINK_SAY_S = endpoint.LINK_SAY_S, 0.2
    hq.start()
    broker = None
    try:
        deadline = time.monotonic() + 10
        while "cannot reach the broker" not in caplog.text and time.monotonic() < deadline:
            hq.supervise()
            time.sleep(0.05)
        for _ in range(10):  # a minute has not passed: said once
            hq.supervise()
        said = [r for r in caplog.records if "cannot reach the broker" in r.getMessage()]
        assert len(said) == 1 and f"127.0.0.1:{port}" in said[0].getMessage()
        state = hq.broker_state()
        assert state["connected"] is False and state["broker"] == f"127.0.0.1:{port}"
        assert "NOT CONNECTED" in page([], state)
        broker = Mosquitto(port=port).start()
        assert hq.connected.wait(30), "HQ never connected once the broker was up"
        assert f"hq: connected to the broker at 127.0.0.1:{port}" in caplog.text
        assert hq.broker_state()["connected"] is True
    finally:
        endpoint.LINK_SAY_S = old
        hq.stop()
        if broker:
            broker.stop()
    assert "lost the broker" not in caplog.text  # our own stop is not a loss
