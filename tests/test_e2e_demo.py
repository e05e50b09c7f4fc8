"""The daemon end to end on the bundled demo: real models, real mosquitto, real SQLite."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from alprd import demo
from alprd.demo.broker import free_port
from alprd.hq import HqEndpoint
from alprd.store import Store
from tests.helpers import KEY, key_file

PASSES = json.loads(demo.PASSES.read_text())
HOT = {line.split(",")[0] for line in demo.HOTLIST.read_text().splitlines()[2:]}
CLIP_PLATES = {p["text"] for p in PASSES["passes"]}


def write_config(tmp_path, broker_url: str, ui_port: int, fps: float = 20) -> str:
    cfg = tmp_path / "alprd.toml"
    cfg.write_text(f"""
[vehicle]
unit_id = "E2E-1"
[[capture.cameras]]
id = "rear"
source = "{demo.CLIP}"
fps = {fps}
[gps]
port = "{demo.TRACK}"
replay_loop = true
replay_retime = true
[hotlist]
path = "{demo.HOTLIST}"
[store]
path = "{tmp_path / "car.db"}"
key_file = "{key_file(tmp_path)}"
[uplink]
broker = "{broker_url}"
[ui]
listen = "127.0.0.1:{ui_port}"
""")
    return str(cfg)


def alprd(*args, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "alprd", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


def get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait_http(url: str, timeout: float = 20.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return get(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Spy:
    """Counts what crosses the broker on the uplink topic."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages = []
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="spy")
        self.c.on_message = lambda c, u, m: self.messages.append(json.loads(m.payload))
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(topic, qos=1)
        self.c.loop_start()

    def stop(self):
        self.c.loop_stop()


@pytest.mark.policy("POL-01")
def test_demo_clip_end_to_end(broker, tmp_path):
    hq = HqEndpoint(broker.url, tmp_path / "hq.db", client_id="hq-e2e")
    hq.start()
    spy = Spy(broker.port, "alprd/v1/E2E-1/up")
    ui_port = free_port()
    proc = alprd(
        "run",
        "-c",
        write_config(tmp_path, broker.url, ui_port),
        "--exit-when-done",
        "--print-reads",
    )
    try:
        page = wait_http(f"http://127.0.0.1:{ui_port}/")
        assert b"UNVERIFIED" in page and b"/app.js" in page
        with pytest.raises(urllib.error.HTTPError) as anonymous:  # no events without sign-in
            urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/events", timeout=10)
        assert anonymous.value.code == 401
        # without a session, /health says only that the daemon is up (no position, counts)
        assert json.loads(get(f"http://127.0.0.1:{ui_port}/health")) == {"up": True}
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        spy.stop()
        hq.stop()
    assert proc.returncode == 0, err[-2000:]

    store = Store(tmp_path / "car.db", KEY)
    rows = [
        (
            r["text"],
            r["utc"],
            r["lat"],
            r["lon"],
            r["fix_quality"],
            r["camera_id"],
            r["unit_id"],
            r["confidence"],
            r["crop"],
        )
        for r in store.reads()
    ]
    texts = [r[0] for r in rows]
    # the clip's plates are read, one read per pass
    assert len(CLIP_PLATES & set(texts)) >= 4, texts
    assert len(rows) <= len(CLIP_PLATES) + 2, texts
    for _text, utc, lat, lon, quality, cam, unit, conf, crop in rows:
        assert utc.endswith("Z") and utc.startswith("20")
        assert lat == pytest.approx(34.05, abs=0.01) and lon == pytest.approx(-118.24, abs=0.01)
        assert quality >= 1 and cam == "rear" and unit == "E2E-1" and 0 < conf <= 1
        img = cv2.imdecode(np.frombuffer(crop, np.uint8), cv2.IMREAD_COLOR)
        # a plate crop, never the scene (POL-01): far smaller than the 1280x720 frame
        assert img is not None and img.shape[1] < 400 and img.shape[0] < 250
    # #33: the state, read off each pass's plate: never a wrong one, most of them named
    want = {p["text"]: p["state"] for p in PASSES["passes"]}
    named = [
        (r["text"], r["state"], r["state_confidence"])
        for r in store.reads()
        if r["state"] is not None
    ]
    assert all(want.get(t) == st and 0.5 <= c <= 1 for t, st, c in named), named
    assert len(named) >= 3, named
    hits = store.hit_plates()
    assert set(hits) & HOT, f"no hotlist hit; reads were {texts}"
    assert store.outbox_depth() == 0  # all acknowledged
    # at rest, the plate texts and crops are sealed (POL-13)
    raw = sqlite3.connect(tmp_path / "car.db")
    for text, crop in raw.execute("SELECT text, crop FROM reads"):
        assert isinstance(text, bytes) and all(t.encode() not in text for t in CLIP_PLATES)
        assert not crop.startswith(b"\xff\xd8")  # not a readable JPEG
    store.close()
    # everything arrived at the broker and at HQ
    sent = {r["id"] for m in spy.messages for r in m["records"]}
    assert len(sent) == len(rows) + len(hits)
    hq_db = sqlite3.connect(tmp_path / "hq.db")
    count = "SELECT count(*) FROM records WHERE kind='read'"
    assert hq_db.execute(count).fetchone()[0] == len(rows)
    assert hq_db.execute("SELECT count(*) FROM records WHERE kind='hit'").fetchone()[0] == len(hits)
    # no full frame anywhere in the uplink either
    for m in spy.messages:
        for r in m["records"]:
            assert set(r["body"]) <= {
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
                "bbox",
                "frames",
                "crop_jpeg_b64",
                "read_id",
                "plate",
                "list_type",
                "reason",
                "priority",
                "case_number",
                "rule",
                "differs",
                "state_rule",
                "state_confidence",
                "read_state",
                "read_state_confidence",  # read off the plate
                "candidate",
                "candidate_probability",
                "model",  # #37: the models' version that read a hit
            }  # #34
    assert "HIT " in out and "UNVERIFIED" in out


def test_read_stored_offline_is_uplinked_at_next_start(broker, tmp_path):
    dead = f"mqtt://127.0.0.1:{free_port()}"  # nobody listens: the car is out of coverage
    cfg = write_config(tmp_path, dead, free_port(), fps=40)
    first = alprd("run", "-c", cfg, "--exit-when-done", "--drain-s", "0")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-2000:]
    db = sqlite3.connect(tmp_path / "car.db")
    stored = db.execute("SELECT count(*) FROM reads").fetchone()[0]
    assert stored >= 1
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] >= stored
    db.close()
    # next start, in coverage, with no camera at all: the backlog goes to HQ
    hq = HqEndpoint(broker.url, tmp_path / "hq.db", client_id="hq-next")
    hq.start()
    try:
        cfg2 = tmp_path / "next.toml"
        cfg2.write_text(
            f'[vehicle]\nunit_id = "E2E-1"\n[store]\npath = "{tmp_path / "car.db"}"\n'
            f'key_file = "{key_file(tmp_path)}"\n'
            f'[uplink]\nbroker = "{broker.url}"\n[ui]\nlisten = "127.0.0.1:0"\n'
        )
        second = alprd("run", "-c", str(cfg2), "--exit-when-done", "--drain-s", "20")
        out, err = second.communicate(timeout=60)
        assert second.returncode == 0, err[-2000:]
        assert hq.store.count("read") == stored
    finally:
        hq.stop()
    db = sqlite3.connect(tmp_path / "car.db")
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_demo_stops_cleanly_on_ctrl_c_within_5_s(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1", ALPRD_UI__LISTEN=f"127.0.0.1:{free_port()}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "alprd", "demo", "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 90
        seen = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("READ"):
                break
        assert any(s.startswith("READ") for s in seen), "".join(seen) + proc.stderr.read()[-2000:]
        # #36 finding 11: the newcomer is told where HQ's side is, and who to sign in as
        assert any(s.startswith("HQ's fleet page: http://127.0.0.1:") for s in seen), seen
        assert any("sign in as 1001" in s for s in seen), seen
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # it stops (systemd's TimeoutStopSec bounds it)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    # our own stop is not a lost link: no "disconnected (Unspecified error)" warnings
    assert "disconnected" not in err and "lost the broker" not in err, err[-2000:]
    assert "hits this run;" in err and "stored at HQ" in out
    ready = next(line for line in err.splitlines() if " ready: " in line)
    assert "; uplink connect" in ready, ready  # #36 finding 7: the ready line names the link
    db = sqlite3.connect(tmp_path / "state" / "alprd.db")
    assert db.execute("SELECT count(*) FROM reads").fetchone()[0] >= 1


def test_the_demo_starts_fresh_but_keeps_its_keys(tmp_path):
    """#36 finding 11: a second run began with the last run's 23 open alerts. What a run
    leaves is discarded at the next start (--keep-state keeps it); the keys and anything
    else in the folder stay."""
    from alprd.demo import start_fresh

    state = tmp_path / "state"
    (state / "keys").mkdir(parents=True)
    (state / "keys" / "data.key").write_text("k")
    (state / "tickets").mkdir()
    (state / "tickets" / "ticket-1.html").write_text("t")
    for name in ("alprd.db", "alprd.db-wal", "hq.db", "roster.bin", "hotlist.npz", "mine.txt"):
        (state / name).write_text("x")
    assert start_fresh(state) is True
    assert sorted(p.name for p in state.iterdir()) == ["keys", "mine.txt"]
    assert (state / "keys" / "data.key").read_text() == "k"
    assert start_fresh(state) is False
