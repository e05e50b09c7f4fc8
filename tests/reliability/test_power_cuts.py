"""Power cuts: SIGKILL at random moments while the daemon replays video, writes reads and
audit records, uplinks, and receives hotlist snapshots and the roster. After every kill the
database passes integrity_check and the audit chain verifies; at the end every read committed
before any kill has reached HQ exactly once.

CI runs ALPRD_KILLS kills per disk (default 4, on a quiet disk and on a disk kept busy by a
writer that fsyncs all the time); the long run is `ALPRD_KILLS=200 ./run test tests/reliability
-k power -s`. Each run prints its figures as `name: value unit` lines.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from alprd import demo
from alprd.audit import AuditLog
from alprd.demo.broker import free_port
from alprd.hotlist import read_csv
from alprd.hq import HqEndpoint, signing_key
from alprd.protocol import roster_user
from alprd.store import Store
from tests.helpers import KEY, key_file

pytestmark = pytest.mark.reliability


def config(tmp_path, broker_url, port, cameras=True) -> str:
    cam = (
        f'[[capture.cameras]]\nid = "rear"\nsource = "{demo.CLIP}"\nfps = 60\nloop = true\n'
        if cameras
        else ""
    )
    p = tmp_path / ("run.toml" if cameras else "drain.toml")
    p.write_text(
        f'[vehicle]\nunit_id = "KILL-1"\n{cam}[track]\npass_gap_s = 0.3\n'
        f'[store]\npath = "{tmp_path / "car.db"}"\nkey_file = "{key_file(tmp_path)}"\n'
        f'[hotlist]\npublic_key = "{tmp_path / "hq.key.pub"}"\n'
        f'[uplink]\nbroker = "{broker_url}"\nbatch = 5\n'
        f'[ui]\nlisten = "127.0.0.1:{port}"\n'
    )
    return str(p)


def searcher(url: str, stop: threading.Event, counter: list) -> None:
    """A data user searching the car's store over and over: each search is an audit record."""
    while not stop.is_set():
        try:
            req = urllib.request.Request(
                url + "api/signin",
                method="POST",
                data=json.dumps({"badge": "2002", "pin": "2345"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=2) as r:
                cookie = r.headers["Set-Cookie"].split(";")[0]
                csrf = json.loads(r.read())["csrf"]
            while not stop.is_set():
                req = urllib.request.Request(
                    url + "api/search",
                    method="POST",
                    data=json.dumps({"purpose": "criminal", "plate": "8XYZ442"}).encode(),
                    headers={
                        "Content-Type": "application/json",
                        "Cookie": cookie,
                        "X-CSRF-Token": csrf,
                    },
                )
                urllib.request.urlopen(req, timeout=2).read()
                counter[0] += 1
                stop.wait(0.05)  # about 20 searches a second: a busy data user, not a flood
        except (OSError, http.client.HTTPException):
            stop.wait(0.2)  # not up yet, or killed (mid-answer: IncompleteRead)


def busy_disk(folder, stop: threading.Event) -> None:
    """Keep the disk busy: 4 MiB writes, each fsynced, until stopped."""
    block = os.urandom(4 << 20)
    path = folder / "busy.bin"
    while not stop.is_set():
        with open(path, "wb") as f:
            f.write(block)
            f.flush()
            os.fsync(f.fileno())
    path.unlink(missing_ok=True)


@pytest.mark.policy("POL-13")
@pytest.mark.parametrize("disk", ["quiet", "busy"])
def test_sigkill_loses_nothing_and_keeps_the_database_and_audit_chain_sound(broker, tmp_path, disk):
    kills = int(os.environ.get("ALPRD_KILLS", "4"))
    rng = random.Random(11)
    key = signing_key(tmp_path / "hq.key")
    hq = HqEndpoint(broker.url, tmp_path / "hq.db", client_id="hq-kill")
    hq.start()
    hq.publish_roster([roster_user("2002", "Det. Baker", "data_user", "2345", "2026-01-01")], key)
    entries = read_csv(demo.HOTLIST)
    stop_all = threading.Event()

    def hotlists():  # a new signed snapshot every 1.5 s, as HQ would push changes
        while not stop_all.wait(1.5):
            try:
                hq.publish_hotlist(entries, key, version=time.time_ns() // 1000, timeout=2)
            except (TimeoutError, RuntimeError, ValueError):
                pass

    workers = [threading.Thread(target=hotlists, daemon=True)]
    if disk == "busy":
        workers.append(threading.Thread(target=busy_disk, args=(tmp_path, stop_all), daemon=True))
    for w in workers:
        w.start()
    port = free_port()
    cfg = config(tmp_path, broker.url, port)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    searches = [0]
    audit_records = 0
    t0 = time.monotonic()
    try:
        for _ in range(kills):
            p = subprocess.Popen(
                [sys.executable, "-m", "alprd", "run", "-c", cfg],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            stop = threading.Event()
            s = threading.Thread(
                target=searcher, args=(f"http://127.0.0.1:{port}/", stop, searches), daemon=True
            )
            s.start()
            time.sleep(rng.uniform(1.0, 3.5))
            p.send_signal(signal.SIGKILL)
            p.wait(10)
            stop.set()
            s.join(5)
            raw = sqlite3.connect(tmp_path / "car.db")
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            raw.close()
            store = Store(tmp_path / "car.db", KEY)
            audit_records = AuditLog(store).verify().records  # raises if the chain broke
            store.close()
        car = sqlite3.connect(tmp_path / "car.db")
        committed = {r[0] for r in car.execute("SELECT id FROM reads")}
        car.close()
        assert committed, "no read was committed in any run"
        drain = subprocess.run(
            [
                sys.executable,
                "-m",
                "alprd",
                "run",
                "-c",
                config(tmp_path, broker.url, free_port(), cameras=False),
                "--exit-when-done",
                "--drain-s",
                "60",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert drain.returncode == 0, drain.stderr[-2000:]
    finally:
        stop_all.set()
        for w in workers:
            w.join(10)
        hq.stop()
    db = sqlite3.connect(tmp_path / "hq.db")
    at_hq = [r[0] for r in db.execute("SELECT id FROM records WHERE kind='read'")]
    audit_at_hq = db.execute("SELECT count(*) FROM records WHERE kind='audit'").fetchone()[0]
    lost = len(committed - set(at_hq))
    print(
        f"\nkills_{disk}_disk: {kills} kills\nreads_committed: {len(committed)} reads\n"
        f"reads_lost: {lost} reads\nreads_stored_twice: {len(at_hq) - len(set(at_hq))} reads\n"
        f"redeliveries_dropped_by_hq: {hq.store.duplicates} records\n"
        f"audit_records_chained: {audit_records} records (searches {searches[0]})\n"
        f"audit_records_at_hq: {audit_at_hq} records\n"
        f"wall_time: {time.monotonic() - t0:.0f} s"
    )
    assert len(at_hq) == len(set(at_hq))  # stored once each
    assert lost == 0, f"{lost} committed reads lost"
    assert audit_records > 0 and audit_at_hq >= audit_records
    car = sqlite3.connect(tmp_path / "car.db")
    assert car.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
