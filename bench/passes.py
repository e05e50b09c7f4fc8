"""One read per vehicle pass: count error and text accuracy of passes against single frames.

    python bench/passes.py [CLIP PASSES_JSON]     (default: the bundled demo clip)

Runs the recognizer and the pass tracker over every frame (time = frame index / fps), then
compares with the ground truth (passes.json: text, first_frame, last_frame per pass).
alert_recall_pass: the passes whose text or candidates (the mean of their sightings'
candidates, alprd/recognize/nbest.py) hit the true plates on a hotlist with the daemon's
rules, as the daemon matches a pass once; false_alerts_pass: hits on another pass's plate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alprd import demo  # noqa: E402
from alprd.config import HotlistConfig  # noqa: E402
from alprd.hotlist import Hotlist  # noqa: E402
from alprd.recognize.recognizer import Recognizer  # noqa: E402
from alprd.track import PassTracker  # noqa: E402
from alprd.types import HotlistEntry, Observation  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?", type=Path, default=demo.CLIP)
    ap.add_argument("truth", nargs="?", type=Path, default=demo.PASSES)
    ap.add_argument("--gap-s", type=float, default=1.5)
    a = ap.parse_args()
    truth = json.loads(a.truth.read_text())
    fps = truth["fps"]
    rec, tracker = Recognizer(), PassTracker(gap_s=a.gap_s)
    cap = cv2.VideoCapture(str(a.clip))
    frame_ok = frame_n = 0
    passes = []
    i = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        t = i / fps
        plates = rec(img)
        gt = next((p for p in truth["passes"] if p["first_frame"] <= i <= p["last_frame"]), None)
        if gt:
            frame_n += 1
            frame_ok += bool(plates) and plates[0][0].text == gt["text"]
        for plate, crop in plates:
            tracker.add(Observation(plate, "cam", t, crop))
        passes += tracker.expire(t)
        i += 1
    passes += tracker.expire(i / fps, force=True)
    texts = [p.text()[0] for p in passes]
    want = [p["text"] for p in truth["passes"]]
    correct = sum(1 for w in want if w in texts)
    wanted = Hotlist.from_config(HotlistConfig())  # the daemon's rules
    wanted.replace([HotlistEntry(w, None, "stolen_vehicle") for w in want])
    hits = [
        {m.entry.plate for m in wanted.match(p.text()[0], candidates=p.candidates())}
        for p in passes
    ]
    alerted = set().union(*hits) if hits else set()
    # a pass belongs to the truth pass whose text it hit best; hits beyond one a pass are false
    false = sum(max(0, len(h) - 1) for h in hits)
    print(f"frames: {i}")
    print(f"passes_truth: {len(want)}")
    print(f"passes_read: {len(texts)}")
    print(f"pass_count_error: {len(texts) - len(want)} passes")
    print(f"single_frame_read_rate: {100 * frame_ok / max(frame_n, 1):.1f} %")
    print(f"pass_read_rate: {100 * correct / len(want):.1f} %")
    print(f"alert_recall_pass: {100 * len(alerted & set(want)) / len(want):.1f} %")
    print(f"false_alerts_pass: {false} alerts")


if __name__ == "__main__":
    main()
