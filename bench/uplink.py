"""Uplink drain against a local mosquitto and the reference HQ endpoint.

    python bench/uplink.py [--backlog 50000]

Fills the car's SQLite outbox with a backlog (a 12-hour outage), starts the uplink, and times
how long until HQ has acknowledged everything; then counts, at HQ, reads lost and duplicated.
Run once with tiny crops (about 0.3 kB: the 'without crops' figure) and once with realistic
plate crops (about 3 kB). Mutual TLS on loopback, with certificates from `alprd provision`.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alprd.demo.broker import Mosquitto  # noqa: E402
from alprd.hq import HqEndpoint  # noqa: E402
from alprd.provision import provision  # noqa: E402
from alprd.store import Store  # noqa: E402
from alprd.types import Read  # noqa: E402
from alprd.uplink import TlsFiles, Uplink  # noqa: E402


def crop_jpeg(size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (size[1], size[0], 3), np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 2)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def reads(n: int, crop: bytes):
    for i in range(n):
        yield Read(
            id=str(uuid.uuid4()),
            text=f"B{i:06d}",
            confidence=0.9,
            char_confidences=(0.9,) * 7,
            state=None,
            utc="2026-11-28T01:00:00.000Z",
            time_source="system",
            camera_id="rear",
            unit_id="BENCH-1",
            lat=34.0,
            lon=-118.0,
            fix_quality=1,
            crop_jpeg=crop,
            bbox=(1, 2, 3, 4),
            frames=5,
        )


def run(n: int, crop: bytes, tmp: Path, batch: int) -> dict:
    store = Store(tmp / f"car{len(crop)}.db", os.urandom(32))
    items = list(reads(n, crop))
    for k in range(0, n, 5000):
        store.add_reads([(r, []) for r in items[k : k + 5000]])
    k = tmp / "keys"
    provision(k, "BENCH-1")
    with Mosquitto(tls=(k / "ca.crt", k / "hq.crt", k / "hq.key")) as broker:
        hq = HqEndpoint(
            broker.url,
            tmp / f"hq{len(crop)}.db",
            client_id="hq-bench",
            tls=TlsFiles(str(k / "ca.crt"), str(k / "hq.crt"), str(k / "hq.key")),
        )
        hq.start()
        hq.connected.wait(5)
        up = Uplink(
            broker.url,
            store,
            "BENCH-1",
            batch=batch,
            retry_s=30,
            tls=TlsFiles(str(k / "ca.crt"), str(k / "device.crt"), str(k / "device.key")),
        )
        t0 = time.monotonic()
        up.start()
        while store.outbox_depth() and time.monotonic() - t0 < 600:
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        up.stop()
        hq.stop()
    db = sqlite3.connect(tmp / f"hq{len(crop)}.db")
    ids_hq = {row[0] for row in db.execute("SELECT id FROM records WHERE kind='read'")}
    lost = sum(1 for r in items if r.id not in ids_hq)
    store.close()
    return {"s": elapsed, "rate": n / elapsed, "lost": lost, "dup": hq.store.duplicates}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backlog", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=50)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, crop in (("tiny_crops", crop_jpeg((8, 4))), ("crops", crop_jpeg((160, 80)))):
            r = run(a.backlog, crop, Path(tmp), a.batch)
            print(f"crop_bytes_{name}: {len(crop)} B")
            print(f"drain_rate_{name}: {r['rate']:.0f} reads/s")
            print(f"backlog_{a.backlog}_drain_time_{name}: {r['s']:.1f} s")
            print(f"lost_{name}: {r['lost']}")
            print(f"duplicates_at_hq_{name}: {r['dup']}")


if __name__ == "__main__":
    main()
