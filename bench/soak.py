"""A patrol shift in fast-forward: the daemon runs against a live MJPEG camera, a GPS on a
pseudo-terminal and HQ over a real mosquitto, while the shift's events happen on a compressed
schedule: the broker is down for the middle third (4 h of 12), the camera drops out 3 times and
the GPS twice. Samples the daemon's resident memory, database size and outbox depth, then
checks that every read reached HQ once.

    python bench/soak.py                      # 12 h at 60x: 12 minutes, then the drain
    python bench/soak.py --hours 1 --speed 120

Prints figures as `name: value unit`; exit status 1 if a read was lost or duplicated, or memory
grew by more than --max-growth-mb from the second quarter to the last (or a quarter of that
over the final stretch, after the last event).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from alprd import demo  # noqa: E402
from alprd.demo.broker import Mosquitto, free_port  # noqa: E402
from alprd.demo.mjpeg import MjpegServer  # noqa: E402
from alprd.hq import HqEndpoint  # noqa: E402


class ClipCamera:
    """The demo clip as a live MJPEG camera on a port; stop() and start() make a dropout."""

    def __init__(self, port: int, fps: float) -> None:
        cap = cv2.VideoCapture(str(demo.CLIP))
        self.frames = []
        while True:
            ok, img = cap.read()
            if not ok:
                break
            self.frames.append(
                cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
            )
        cap.release()
        self.port, self.fps = port, fps
        self.server = None

    def start(self) -> None:
        self.server = MjpegServer(self.port, self.frames, self.fps)

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None


class PtyGps:
    """The demo track written to a pseudo-terminal, one epoch a second, pausable."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        self._slave = slave
        self.paused = threading.Event()
        self.stop_event = threading.Event()
        lines = demo.TRACK.read_bytes().splitlines(keepends=True)
        self.epochs, cur = [], []
        for ln in lines:
            if b"RMC," in ln[:7] and cur:
                self.epochs.append(b"".join(cur))
                cur = []
            cur.append(ln)
        self.epochs.append(b"".join(cur))
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        n = 0
        while not self.stop_event.wait(1.0):
            if not self.paused.is_set():
                try:
                    os.write(self.master, self.epochs[n % len(self.epochs)])
                except OSError:
                    return
                n += 1


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(hours: float, speed: float, fps: float, folder: Path, log=print) -> dict:
    real_s = hours * 3600 / speed
    at = lambda frac: frac * real_s  # noqa: E731 - a point of the shift, in real seconds
    broker_port, cam_port = free_port(), free_port()
    broker = Mosquitto(port=broker_port).start()
    hq = HqEndpoint(broker.url, folder / "hq.db", client_id="hq-soak")
    hq.start()
    cam = ClipCamera(cam_port, fps)
    cam.start()
    gps = PtyGps()
    key = folder / "data.key"
    if not key.exists():
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(32))
        os.close(fd)
    ui_port = free_port()
    cfg = folder / "soak.toml"
    cfg.write_text(
        f'[vehicle]\nunit_id = "SOAK-1"\n[[capture.cameras]]\nid = "rear"\n'
        f'source = "http://127.0.0.1:{cam_port}/"\n[capture]\nreconnect_max_s = 2\n'
        f'[gps]\nport = "{gps.path}"\n[track]\npass_gap_s = 0.3\n'
        f'[store]\npath = "{folder / "car.db"}"\nkey_file = "{key}"\n'
        f'[uplink]\nbroker = "{broker.url}"\nretry_s = 5\n'
        f'[ui]\nlisten = "127.0.0.1:{ui_port}"\n'
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "alprd", "run", "-c", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "daemon.log", "w"),
    )
    # the shift's events, as (real seconds from start, what, action)
    events = sorted(
        [(at(1 / 3), "broker down", lambda: broker.stop()), (at(2 / 3), "broker up", lambda: None)]
        + [(at(f), f"camera dropout {i + 1}", cam.stop) for i, f in enumerate((0.15, 0.45, 0.8))]
        + [
            (at(f) + max(3.0, at(0.02)), f"camera back {i + 1}", cam.start)
            for i, f in enumerate((0.15, 0.45, 0.8))
        ]
        + [(at(f), f"gps dropout {i + 1}", gps.paused.set) for i, f in enumerate((0.25, 0.6))]
        + [
            (at(f) + max(3.0, at(0.02)), f"gps back {i + 1}", gps.paused.clear)
            for i, f in enumerate((0.25, 0.6))
        ],
        key=lambda e: e[0],
    )
    samples = []  # (t, rss_kb, db_bytes, outbox)
    t0 = time.monotonic()
    health = f"http://127.0.0.1:{ui_port}/health"  # anonymous: says only that it is up

    def sample():
        try:
            with urllib.request.urlopen(health, timeout=2) as r:
                if not json.loads(r.read()).get("up"):
                    return
            # the outbox depth from the car's database itself (WAL: a reader never blocks
            # the daemon), as /health gives it only to a signed-in user
            with sqlite3.connect(
                f"file:{folder / 'car.db'}?mode=ro", uri=True, timeout=2
            ) as car_db:
                outbox = car_db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        except (OSError, sqlite3.Error):
            return
        db = sum(p.stat().st_size for p in folder.glob("car.db*"))
        samples.append((time.monotonic() - t0, rss_kb(daemon.pid), db, outbox))

    try:
        next_sample = 0.0
        while time.monotonic() - t0 < real_s:
            now = time.monotonic() - t0
            while events and events[0][0] <= now:
                _, what, action = events.pop(0)
                if what == "broker up":
                    broker = Mosquitto(port=broker_port).start()
                else:
                    action()
                log(f"# {now / real_s * hours:5.2f} h of {hours:g}: {what}")
            if now >= next_sample:
                sample()
                next_sample = now + max(1.0, real_s / 200)
            if daemon.poll() is not None:
                tail = (folder / "daemon.log").read_text()[-2000:]
                raise RuntimeError(f"the daemon died: {tail}")
            time.sleep(0.2)
        drain_t0 = time.monotonic()
        while samples[-1][3] > 0 and time.monotonic() - drain_t0 < 600:
            time.sleep(1.0)
            sample()
        drain_s = time.monotonic() - drain_t0
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        # reads closed at the stop, or acknowledged too late, go at the next start
        car = sqlite3.connect(folder / "car.db")
        left_at_stop = car.execute("SELECT count(*) FROM outbox").fetchone()[0]
        car.close()
        nxt = folder / "next-start.toml"
        nxt.write_text(
            cfg.read_text().split("[[capture.cameras]]")[0]
            + f'[gps]\nport = "{gps.path}"\n'  # the same car, its receiver on
            f'[store]\npath = "{folder / "car.db"}"\nkey_file = "{key}"\n'
            f'[uplink]\nbroker = "{broker.url}"\n'
            f'[ui]\nlisten = "127.0.0.1:{free_port()}"\n'
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "alprd",
                "run",
                "-c",
                str(nxt),
                "--exit-when-done",
                "--drain-s",
                "60",
            ],
            capture_output=True,
            timeout=120,
        )
    finally:
        if daemon.poll() is None:
            daemon.kill()
        gps.stop_event.set()
        cam.stop()
        hq.stop()
        broker.stop()
    car = sqlite3.connect(folder / "car.db")
    reads = {r[0] for r in car.execute("SELECT id FROM reads")}
    left = car.execute("SELECT count(*) FROM outbox").fetchone()[0]
    car.close()
    hq_db = sqlite3.connect(folder / "hq.db")
    at_hq = [r[0] for r in hq_db.execute("SELECT id FROM records WHERE kind='read'")]
    rss = [s[1] for s in samples]
    outbox = [s[3] for s in samples]
    quarter = [
        [s[1] for s in samples if q * real_s / 4 <= s[0] < (q + 1) * real_s / 4] for q in range(4)
    ]
    rss_tail = [s[1] for s in samples if s[0] >= 0.85 * real_s]
    mean = lambda xs: sum(xs) / len(xs) / 1024 if xs else 0.0  # noqa: E731 - MB
    return {
        "shift_hours": hours,
        "speed": speed,
        "real_s": round(real_s),
        "reads": len(reads),
        "reads_at_hq": len(set(at_hq)),
        "reads_lost": len(reads - set(at_hq)),
        "reads_duplicated": len(at_hq) - len(set(at_hq)),
        "outbox_left_at_stop": left_at_stop,
        "outbox_left_after_next_start": left,
        "peak_rss_mb": round(max(rss) / 1024, 1),
        "mean_rss_second_quarter_mb": round(mean(quarter[1]), 1),
        "mean_rss_last_quarter_mb": round(mean(quarter[3]), 1),
        "rss_growth_after_warmup_mb": round(mean(quarter[3]) - mean(quarter[1]), 1),
        # after the last event (camera back at 0.82 of the shift): steady state
        "rss_growth_final_stretch_mb": round((rss_tail[-1] - rss_tail[0]) / 1024, 1)
        if rss_tail
        else None,
        "db_mb_end": round(samples[-1][2] / 2**20, 2),
        "outbox_peak": max(outbox),
        "drain_s": round(drain_s, 1),
        "samples": samples,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=12.0, help="shift length (default 12)")
    ap.add_argument(
        "--speed", type=float, default=60.0, help="shift seconds per real second (default 60)"
    )
    ap.add_argument("--fps", type=float, default=20.0, help="camera frame rate (default 20)")
    ap.add_argument("--dir", default=str(REPO / "build" / "soak"), help="working folder")
    ap.add_argument("--max-growth-mb", type=float, default=20.0)
    a = ap.parse_args()
    folder = Path(a.dir)
    folder.mkdir(parents=True, exist_ok=True)
    for p in folder.glob("*.db*"):
        p.unlink()
    f = run(a.hours, a.speed, a.fps, folder)
    print("# t_s rss_mb db_mb outbox (every 10th sample)")
    for t, r, d, o in f.pop("samples")[::10]:
        print(f"# {t:7.1f} {r / 1024:7.1f} {d / 2**20:7.2f} {o:6d}")
    units = {"shift_hours": "h", "speed": "x", "real_s": "s", "drain_s": "s"}
    for k, v in f.items():
        unit = units.get(k) or (
            "MB" if "_mb" in k else "reads" if k.startswith("reads") else "records"
        )
        print(f"{k}: {v} {unit}")
    bad = (
        f["reads_lost"]
        or f["reads_duplicated"]
        or f["outbox_left_after_next_start"]
        or (f["rss_growth_after_warmup_mb"] or 0) > a.max_growth_mb
        or (f["rss_growth_final_stretch_mb"] or 0) > a.max_growth_mb / 4
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
