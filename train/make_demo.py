"""Render the bundled demo: a clip of vehicle passes, a matching GPS track, a hotlist.

    python -m train.make_demo --out alprd/demo/assets

Every pixel is procedural (train/scenes.py, train/synth.py): no third-party photos. The clip's
ground truth (one entry per pass) goes to passes.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from pathlib import Path

import cv2
import numpy as np

from train import scenes, synth

PLATES = [
    ("7ABC123", "CA"),
    ("8XYZ442", "CA"),
    ("4KTR819", "NV"),
    ("6MWB225", "CA"),
    ("3JHF907", "AZ"),
]
HOT = {
    "8XYZ442": ("stolen_vehicle", "Stolen vehicle, grey sedan", "NIC/V123456789"),
    "3JHF907": ("bolo", "BOLO: armed robbery suspect vehicle", "CASE-2026-0412"),
}
FPS = 10
W, H = 1280, 720


def render_pass(rng: random.Random, text: str, state: str, frames: int) -> list[np.ndarray]:
    seed = rng.randint(0, 2**31)
    base_rng = random.Random(seed)
    road = scenes._road(base_rng, H, W)
    plate = synth.render_plate(base_rng, text=text, state=state, two_line=False).image
    colour = tuple(base_rng.randint(30, 220) for _ in range(3))
    side = base_rng.uniform(-0.2, 0.2)
    out = []
    for k in range(frames):
        t = k / (frames - 1)
        img = road.copy()
        width = W * (0.10 + 0.30 * t)
        cx = W * (0.5 + side * t)
        base_y = H * (0.45 + 0.5 * t)
        scenes.draw_car(img, random.Random(seed), cx, base_y, width, colour, plate)
        out.append(img)
    return out


def nmea(body: str) -> str:
    c = 0
    for ch in body:
        c ^= ord(ch)
    return f"${body}*{c:02X}\r\n"


def track(seconds: int, lat: float = 34.05220, lon: float = -118.24370) -> str:
    lines = []
    speed_kmh = 36.0
    for s in range(seconds):
        la = lat + s * speed_kmh / 3.6 / 111_320
        hh, mm, ss = 18, 30 + (s // 60), s % 60
        t = f"{hh:02d}{mm:02d}{ss:02d}.00"
        lat_s = f"{int(la):02d}{(la - int(la)) * 60:08.5f}"
        lo = abs(lon)
        lon_s = f"{int(lo):03d}{(lo - int(lo)) * 60:08.5f}"
        knots = speed_kmh / 1.852
        lines.append(nmea(f"GPRMC,{t},A,{lat_s},N,{lon_s},W,{knots:.1f},0.0,281126,,,A"))
        lines.append(nmea(f"GPGGA,{t},{lat_s},N,{lon_s},W,1,09,0.9,71.0,M,-32.0,M,,"))
    return "".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("alprd/demo/assets"))
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--frames-per-pass", type=int, default=24)
    ap.add_argument("--gap", type=int, default=12, help="empty frames between passes")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(a.seed)
    writer = cv2.VideoWriter(str(a.out / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    passes, n = [], 0
    for text, state in PLATES:
        empty = scenes._road(random.Random(rng.randint(0, 2**31)), H, W)
        for _ in range(a.gap):
            writer.write(empty[..., ::-1])
            n += 1
        frames = render_pass(rng, text, state, a.frames_per_pass)
        passes.append(
            {"text": text, "state": state, "first_frame": n, "last_frame": n + len(frames) - 1}
        )
        for f in frames:
            writer.write(f[..., ::-1])
            n += 1
    writer.release()
    (a.out / "passes.json").write_text(
        json.dumps({"fps": FPS, "frames": n, "passes": passes}, indent=1) + "\n"
    )
    (a.out / "track.nmea").write_text(track(n // FPS + 5))
    rows = [
        (plate, dict(PLATES)[plate], kind, reason, 1, case)
        for plate, (kind, reason, case) in HOT.items()
    ]
    rows += [
        ("5QQQ001", "CA", "stolen_plate", "Stolen plate", 2, "NIC/P000000001"),
        ("9ZZZ999", "TX", "wanted_person", "Wanted: failure to appear", 2, "W-2026-0001"),
    ]
    buf = io.StringIO()
    buf.write("# Demo hotlist: fictitious entries for the bundled clip\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["plate", "state", "list_type", "reason", "priority", "case_number"])
    w.writerows(rows)
    (a.out / "hotlist.csv").write_text(buf.getvalue())
    print(f"frames: {n}\npasses: {len(passes)}\nclip: {a.out / 'clip.mp4'}")


if __name__ == "__main__":
    main()
