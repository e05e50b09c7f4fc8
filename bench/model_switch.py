"""A model bundle's switch, as the frame loop sees it (#37 item 5).

    python bench/model_switch.py [--frames 120] [--switches 3]

Frames of the demo clip (1280x720) are read in a loop with the package's models, as the
daemon's frame loop reads them; meanwhile the package's own models, bundled and signed as HQ
would (alprd.protocol.bundle), are applied and rolled back --switches times each
(alprd.recognize.updates: verify, store, load beside, self-test, swap between frames). Prints:

- bundle_bytes: the bundle's size on the wire (the detector, our OCR, its config and the
  second reader);
- frame_ms_median: the loop's median time per frame (no switch under way);
- model_switch_gap_ms: the longest time between two frames while a switch was under way (the
  frame loop never waits on a load: this is a frame's time plus what loading beside it costs
  on these cores);
- switch_ms_median: how long a switch took, verification to swap.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alprd import demo, recognize  # noqa: E402
from alprd.config import RecognizeConfig  # noqa: E402
from alprd.protocol.bundle import pack  # noqa: E402
from alprd.recognize.recognizer import Recognizer  # noqa: E402
from alprd.recognize.updates import ModelUpdates  # noqa: E402


class Loop:
    """The frame loop: reads frames with whatever recognizer is current, noting each end."""

    def __init__(self, frames: list) -> None:
        self.recognizer, self.model = Recognizer(), "pkg"
        self.frames, self.ends, self.stop = frames, [], threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            self.recognizer(self.frames[i % len(self.frames)])
            self.ends.append(time.perf_counter())
            i += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120, help="frames read before the switches")
    ap.add_argument("--switches", type=int, default=3)
    a = ap.parse_args()
    cap = cv2.VideoCapture(str(demo.CLIP))
    frames = []
    while len(frames) < 30:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        wire = pack(recognize.MODEL_DIR, "bench-2", key)  # the package's files, bundle names
        loop = Loop(frames)
        updates = ModelUpdates(RecognizeConfig(), loop, key.public_key(), Path(tmp) / "m", "pkg")
        t = threading.Thread(target=loop.run)
        t.start()
        while len(loop.ends) < a.frames:
            time.sleep(0.01)
        quiet = [b - x for x, b in zip(loop.ends, loop.ends[1:])]
        windows, took = [], []
        for _ in range(a.switches):
            for step in (lambda: updates.apply(wire), updates.rollback):
                t0 = time.perf_counter()
                step()
                t1 = time.perf_counter()
                took.append(t1 - t0)
                windows.append((t0, t1))
                time.sleep(0.3)  # frames after the swap, read with the new models
        loop.stop.set()
        t.join()
    ends = loop.ends
    gaps = [
        b - x
        for x, b in zip(ends, ends[1:])
        if any(x <= t1 and b >= t0 for t0, t1 in windows)  # a gap that overlaps a switch
    ]
    print(f"bundle_bytes: {len(wire)} bytes")
    print(f"frame_ms_median: {1000 * statistics.median(quiet):.1f} ms")
    print(f"model_switch_gap_ms: {1000 * max(gaps):.1f} ms")
    print(f"switch_ms_median: {1000 * statistics.median(took):.1f} ms")


if __name__ == "__main__":
    main()
