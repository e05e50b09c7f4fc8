"""The self-test against a healthy car, then with each component broken (POL-19)."""

import datetime as dt
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from alprd import demo, selftest
from alprd.config import load
from alprd.demo.broker import Mosquitto, free_port
from alprd.hotlist import Hotlist
from alprd.hotlist.sync import HotlistSync
from alprd.protocol import load_public_key
from alprd.provision import issue, provision
from alprd.selftest import ticket
from tests.test_camera_recovery import MjpegCamera
from tests.test_hotlist_sync import HQ, snapshot


@pytest.fixture
def car(tmp_path):
    """A healthy car: live camera, GPS log, keys, a TLS broker, a current signed hotlist."""
    keys = tmp_path / "keys"
    provision(keys, "ST-1")
    port = free_port()
    cam = MjpegCamera(port)
    broker = Mosquitto(tls=(keys / "ca.crt", keys / "hq.crt", keys / "hq.key")).start()
    pub = tmp_path / "hq.pub"
    pub.write_bytes(
        HQ.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    state = tmp_path / "state"
    HotlistSync(Hotlist(), load_public_key(pub), state).apply(snapshot(1))
    defaults = {
        "vehicle": {"unit_id": "ST-1", "agency": "Test PD"},
        "capture": {"cameras": [{"id": "rear", "source": f"http://127.0.0.1:{port}/s.mjpg"}]},
        "gps": {"port": str(demo.TRACK)},
        "store": {"path": str(state / "car.db"), "key_file": str(keys / "data.key")},
        "uplink": {
            "broker": broker.url,
            "ca_file": str(keys / "ca.crt"),
            "cert_file": str(keys / "device.crt"),
            "key_file": str(keys / "device.key"),
        },
        "hotlist": {"public_key": str(pub)},
    }
    yield {"defaults": defaults, "keys": keys, "state": state, "cam": cam, "tmp": tmp_path}
    cam.stop()
    broker.stop()


def run(defaults):
    results = selftest.run_all(load(None, environ={}, defaults=defaults), min_free_mb=1)
    return {r.component: r for r in results}


def test_healthy_car_passes(car):
    got = run(car["defaults"])
    assert {c: r.status for c, r in got.items()} == {
        "camera rear": "ok",
        "gps": "ok",
        "clock": "ok",
        "models": "ok",
        "storage": "ok",
        "keys": "ok",
        "uplink": "ok",
        "hotlist": "ok",
    }, {c: r.symptom for c, r in got.items()}
    assert got["uplink"].details["tls"] in ("TLSv1.2", "TLSv1.3")


def broken(car, component):
    d = json.loads(json.dumps(car["defaults"]))
    if component == "camera rear":
        car["cam"].stop()  # camera gone
    elif component == "gps":
        silent = car["tmp"] / "silent.nmea"
        silent.write_text("")
        d["gps"]["port"] = str(car["tmp"] / "ttyNONE")  # no device: nothing heard
    elif component == "models":
        bad = car["tmp"] / "bad.tflite"
        bad.write_bytes(os.urandom(5000))
        d["recognize"] = {"detector": str(bad)}
    elif component == "storage":
        return d, 10**9  # more free space needed than any disk has: the disk is full
    elif component == "keys":
        k = car["keys"]
        ca_key = serialization.load_pem_private_key((k / "ca.key").read_bytes(), None)
        ca = x509.load_pem_x509_certificate((k / "ca.crt").read_bytes())
        old = car["tmp"] / "old"
        old.mkdir()
        issue(
            old,
            "device",
            "ST-1",
            ca_key,
            ca,
            server=False,
            days=1,
            not_before=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=5),
        )
        d["uplink"]["cert_file"] = str(old / "device.crt")
        d["uplink"]["key_file"] = str(old / "device.key")
    elif component == "hotlist":
        saved = car["state"] / "hotlist.npz"
        old = time.time() - 3 * 86400
        os.utime(saved, (old, old))
    return d, 1


@pytest.mark.policy("POL-19")
@pytest.mark.parametrize(
    "component", ["camera rear", "gps", "models", "storage", "keys", "hotlist"]
)
def test_each_broken_component_fails_and_gets_a_ticket(car, component):
    defaults, min_free = broken(car, component)
    cfg = load(None, environ={}, defaults=defaults)
    results = selftest.run_all(cfg, min_free_mb=min_free)
    failed = [r.component for r in results if r.status == "fail"]
    assert component in failed, [(r.component, r.symptom) for r in results]
    t = ticket.make(cfg, results, "Tech J. Doe #4411")
    assert component in [c["component"] for c in t["components"]]
    assert t["form"] == "11.03.00" and t["unit_id"] == "ST-1"
    assert t["reporting_employee"] == "Tech J. Doe #4411"
    page = ticket.render_html(t)
    assert "Motor Vehicle Trouble Ticket" in page and component in page


@pytest.mark.policy("POL-19")
def test_selftest_command_exits_1_and_queues_the_ticket(car):
    d = dict(car["defaults"])
    cfg = car["tmp"] / "alprd.toml"
    cam_port = d["capture"]["cameras"][0]["source"]
    car["cam"].stop()
    cfg.write_text(
        f'[vehicle]\nunit_id = "ST-1"\n[[capture.cameras]]\nid = "rear"\nsource = "{cam_port}"\n'
        f'[store]\npath = "{d["store"]["path"]}"\nkey_file = "{d["store"]["key_file"]}"\n'
        f'[hotlist]\npublic_key = "{d["hotlist"]["public_key"]}"\n'
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "alprd",
            "selftest",
            "-c",
            str(cfg),
            "--json",
            "--ticket-on-failure",
            "--min-free-mb",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1, res.stderr
    assert "no running alprd answers at" in res.stderr  # #36: says what it checks instead
    out = json.loads(res.stdout)
    assert not out["ok"] and out["ticket"]["queued_for_hq"]
    assert os.path.exists(out["ticket"]["print_view"])
    # (#23, item 14) the ticket holds the car's position: the service's user alone reads it
    for p in Path(out["ticket"]["print_view"]).parent.glob("ticket-*"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    from alprd.store import Store
    from alprd.store.crypto import load_key

    store = Store(d["store"]["path"], load_key(d["store"]["key_file"]))
    queued = [p for p in store.pending(10) if p.kind == "ticket"]
    assert queued and queued[0].body["components"][0]["component"] == "camera rear"
    store.close()
    human = subprocess.run(
        [sys.executable, "-m", "alprd", "selftest", "-c", str(cfg), "--min-free-mb", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "FAIL  camera rear" in human.stdout and "RESULT: FAIL" in human.stdout


def test_the_live_self_test_says_what_the_camera_said_and_files_one_ticket(tmp_path, capfd):
    """#36 finding 9: the daemon logged "cannot open camera /dev/video0" while the self-test
    said only "check the cable"; two runs a second apart made two tickets; the ticket's
    Details column was raw JSON. OpenCV's own WARN lines no longer repeat at each retry."""
    from alprd.daemon import Daemon
    from tests.helpers import key_file, wait_for

    cfg = load(
        None,
        environ={},
        defaults={
            "vehicle": {"unit_id": "ST-2"},
            "capture": {"cameras": [{"id": "rear", "source": "/dev/video97"}]},
            "store": {"path": str(tmp_path / "car.db"), "key_file": str(key_file(tmp_path))},
        },
    )
    d = Daemon(cfg, ui=False)
    (cam,) = d.cameras
    cam.start()
    try:
        assert wait_for(lambda: cam.why, 10), "the camera never said why it is down"
        first = d.run_selftest(requested_by="Tech Dunn")
        second = d.run_selftest(requested_by="Tech Dunn")
    finally:
        cam.stop(1.0)
    (rear,) = [r for r in first["results"] if r["component"] == "camera rear"]
    assert "cannot open camera /dev/video97" in rear["symptom"]
    assert rear["details"]["error"].startswith("cannot open camera /dev/video97")
    assert first["ticket"] and not first["ticket"].get("already_filed")
    assert second["ticket"]["already_filed"] and second["ticket"]["id"] == first["ticket"]["id"]
    assert [i.kind for i in d.store.pending(100)].count("ticket") == 1
    page = Path(first["ticket"]["print_view"]).read_text()
    assert "source: /dev/video97" in page and "{&quot;" not in page and '{"' not in page
    assert "WARN" not in capfd.readouterr().err  # OpenCV's own lines, at each retry
    d.store.close()
