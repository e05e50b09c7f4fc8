"""Recognition speed: detector plus OCR of every plate found, per frame.

    python bench/speed.py [--frames 60]

Frames come from the demo clip (1280x720, plates present), and a 1920x1080 upscale of the same,
and, where ../shared/data is present (ALPRD_SHARED_DATA), the real frames of us_e2e_dev.
Prints median and p90 ms per frame with one thread and the shipped defaults (both readers),
and frames/s with all cores (one recognizer per thread, each with its own interpreters).
The real frames are timed twice: alone, then with the daemon's state reader (PaddleOCR's,
alprd/recognize/state_worker.py) reading the first plate of every frame beside the frame
loop (the daemon reads one a pass: this is many times its load); state_ms_median is its time
per plate there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alprd import demo  # noqa: E402
from alprd.config import RecognizeConfig  # noqa: E402
from alprd.recognize.recognizer import Recognizer, plate_box  # noqa: E402
from alprd.recognize.state_worker import StateWorker  # noqa: E402


def frames(n: int):
    cap = cv2.VideoCapture(str(demo.CLIP))
    out = []
    while len(out) < n:
        ok, f = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        out.append(f)
    return out


def real_frames(folder: Path):
    """us_e2e_dev's frames (real US photos), or [] where the shared data is absent."""
    manifest = folder / "manifest.jsonl"
    if not manifest.exists():
        return []
    items = [json.loads(line) for line in manifest.read_text().splitlines()]
    return [
        img for img in (cv2.imread(str(folder / it["image"])) for it in items) if img is not None
    ]


def timed(rec, imgs, states=None):
    """ms per frame; with states (a running StateWorker), each frame's first plate is handed
    to it after the frame, as the pipeline hands over a finished pass."""
    ms = []
    for i, img in enumerate(imgs):
        t0 = time.perf_counter()
        plates = rec(img)
        ms.append((time.perf_counter() - t0) * 1000)
        if states is not None and plates:
            plate, crop = plates[0]
            states.ask(str(i), plate_box(crop, plate.bbox))
    return ms


def with_state_reader(rec, imgs) -> tuple[list[float], list[float]]:
    """(frame ms, state ms) with the state reader running beside the frames."""
    states = StateWorker(lambda: rec.state)
    states.start()
    rec.state(imgs[0][:80, :160])  # loaded and run once before the clock starts
    try:
        ms = timed(rec, imgs, states)
        end = time.monotonic() + 60
        while len(states.questions) and time.monotonic() < end:
            time.sleep(0.05)
        return ms, list(states.ms)
    finally:
        states.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument(
        "--real-frames",
        type=int,
        default=0,
        help="the first N real frames only (default: all of us_e2e_dev)",
    )
    ap.add_argument(
        "--reader",
        choices=("both", "ours"),
        default="both",
        help="both: the shipped defaults; ours: without the second reader",
    )
    a = ap.parse_args()
    cfg = RecognizeConfig(second_reader=a.reader == "both")
    imgs720 = frames(a.frames)
    imgs1080 = [cv2.resize(f, (1920, 1080)) for f in imgs720]
    rec = Recognizer.from_config(cfg)
    timed(rec, imgs720[:5])
    shared = Path(
        os.environ.get(
            "ALPRD_SHARED_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data"
        )
    )
    real = real_frames(shared / "us_e2e_dev")[: a.real_frames or None]
    if not real:
        print(f"(no real frames: {shared / 'us_e2e_dev'} is absent)", file=sys.stderr)
    for name, imgs in (("720p", imgs720), ("1080p", imgs1080), ("real", real)):
        if not imgs:
            continue
        ms = sorted(timed(rec, imgs))
        print(f"median_ms_{name}_1thread: {statistics.median(ms):.1f} ms")
        print(f"p90_ms_{name}_1thread: {ms[int(0.9 * (len(ms) - 1))]:.1f} ms")
    if real:
        ms, state_ms = with_state_reader(rec, real)
        ms.sort()
        print(f"median_ms_real_1thread_with_state_reader: {statistics.median(ms):.1f} ms")
        print(f"p90_ms_real_1thread_with_state_reader: {ms[int(0.9 * (len(ms) - 1))]:.1f} ms")
        if state_ms:
            print(f"state_ms_median: {statistics.median(state_ms):.1f} ms")
    cores = os.cpu_count() or 1
    recs = [Recognizer.from_config(cfg) for _ in range(cores)]
    done = [0]
    lock = threading.Lock()

    def worker(r):
        for img in imgs720:
            r(img)
            with lock:
                done[0] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(r,)) for r in recs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"cores: {cores}")
    print(f"fps_720p_all_cores: {done[0] / (time.perf_counter() - t0):.1f} frames/s")


if __name__ == "__main__":
    main()
