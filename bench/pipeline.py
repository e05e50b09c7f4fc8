"""The whole pipeline with two cameras replaying at once: frames/s and frame drop rate.

    python bench/pipeline.py [--seconds 20]

Two cameras replay the demo clip: first at its recorded rate (10 frames/s each), then at
120 frames/s each (capture outruns recognition; the bounded queues drop the oldest frames).
Store in a temporary SQLite file; no uplink, no page.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alprd import demo  # noqa: E402
from alprd.config import load  # noqa: E402
from alprd.daemon import Daemon  # noqa: E402
from alprd.store.crypto import make_key  # noqa: E402


def run(fps: float, seconds: float, tmp: Path) -> dict:
    cams = [{"id": f"cam{i}", "source": str(demo.CLIP), "fps": fps, "loop": True} for i in range(2)]
    make_key(tmp / "data.key")
    cfg = load(
        None,
        environ={},
        defaults={
            "capture": {"cameras": cams},
            "store": {"path": str(tmp / f"b{fps}.db"), "key_file": str(tmp / "data.key")},
        },
    )
    d = Daemon(cfg, ui=False)
    d.start()
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        d.step()
    elapsed = time.monotonic() - t0
    captured = sum(c.frames for c in d.cameras)
    dropped = sum(q.dropped for q in d.queues.values())
    processed = d.pipeline.frames
    d.shutdown()
    return {
        "fps": processed / elapsed,
        "captured": captured,
        "dropped": dropped,
        "reads": d.pipeline.reads,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, fps in (("recorded", 0), ("max", 120)):
            r = run(fps, a.seconds, Path(tmp))
            print(f"pipeline_fps_2cams_{name}: {r['fps']:.1f} frames/s")
            print(f"drop_rate_2cams_{name}: {100 * r['dropped'] / max(r['captured'], 1):.1f} %")
            print(f"reads_2cams_{name}: {r['reads']}")


if __name__ == "__main__":
    main()
