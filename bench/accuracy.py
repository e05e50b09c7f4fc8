"""Recognition accuracy on a labelled folder (manifest.jsonl + images/, as in ../shared/data).

    python bench/accuracy.py ../shared/data/us_e2e_dev

Full frames: the best plate is compared with the labelled plate; detection recall counts a
labelled box the detector found with IoU >= 0.3, before the OCR's confidence filter
(unlabelled plates are never counted against us), and box_iou_median says how well those
boxes fit (the OCR reads a tight box best); false reads are plates read, after the daemon's
confidence filter, where no plate is labelled. Crop folders (one plate filling the
image) are read by the OCR alone, through the same crop step as a detector box (its views and
margins; beyond the image edge, the edge repeated). The detector threshold and confidence
filter are the daemon's defaults unless given. Where the labels give the state (us_plate_crops),
state_correct and state_wrong say how often the read's state was right and wrong (the rest
abstained: unknown), state_confidence_mean the mean confidence the named states were given
against state_named_right, the share of them that were right (calibration); the state is
read on the labelled box, or with --state-box detector on the detector's box (as the daemon
reads it: the detected box best overlapping the label). --half even|odd reads every other
image only: choices are made on the even half and confirmed on the odd one. Prints figures,
one per line, the last being read_rate; --confusions adds a per-character confusion table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alprd.config import RecognizeConfig  # noqa: E402
from alprd.geometry import iou  # noqa: E402
from alprd.recognize.recognizer import Recognizer, crop_plate  # noqa: E402
from alprd.recognize.state import BOTTOM, BOX_MARGIN, TOP, StateReader, calibrated, match, named  # noqa: E402

FOLD = str.maketrans({"O": "0", "I": "1"})


def clean(text: str | None) -> str:
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())


def is_crop_set(items: list[dict]) -> bool:
    it = items[0]
    x1, y1, x2, y2 = it["plates"][0]["bbox"]
    return (x2 - x1) * (y2 - y1) > 0.5 * it["width"] * it["height"]


def in_frame(img, box, height: int):
    """The image scaled so its box is `height` px high, in the middle of a 1280x720 grey
    frame (with a little noise, as a sensor's), and the box there."""
    scale = height / (box[3] - box[1])
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    frame = np.random.default_rng(0).normal(110, 8, (720, 1280, 3)).clip(0, 255)
    frame = frame.astype(np.uint8)
    y, x = (720 - h) // 2, (1280 - w) // 2
    frame[y : y + h, x : x + w] = small[:720, :1280]
    return frame, [
        round(x + v * scale) if i % 2 == 0 else round(y + v * scale) for i, v in enumerate(box)
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0)
    defaults = RecognizeConfig()
    ap.add_argument("--detect-threshold", type=float, default=defaults.detect_threshold)
    ap.add_argument("--min-confidence", type=float, default=defaults.min_confidence)
    ap.add_argument(
        "--deskew-min-deg",
        type=float,
        default=defaults.deskew_min_deg,
        help="level plates tilted at least this much (0: never)",
    )
    ap.add_argument("--ocr", type=Path, help="another OCR .tflite (default: the shipped one)")
    ap.add_argument(
        "--detector", type=Path, help="another detector .tflite (default: the shipped one)"
    )
    ap.add_argument(
        "--reader",
        choices=("both", "ours", "global"),
        default="both",
        help="both: the shipped combination (default); ours: our OCR alone; "
        "global: the second reader (fast-plate-ocr's global OCR) alone",
    )
    ap.add_argument(
        "--second-below",
        type=float,
        default=defaults.second_below,
        help="ask the second reader under this vote confidence (1.01: always)",
    )
    ap.add_argument("--second-weight", type=float, default=defaults.second_weight)
    ap.add_argument(
        "--second-model", type=Path, help="another second reader .onnx (default: the shipped one)"
    )
    ap.add_argument("--state-min-confidence", type=float, default=defaults.state_min_confidence)
    ap.add_argument(
        "--state-reader",
        choices=("words", "ppocr"),
        default="ppocr",
        help="ppocr: PaddleOCR's PP-OCRv6 recogniser from the rapidocr wheel (the "
        "daemon's, default); words: the two plate readers (before #33)",
    )
    ap.add_argument(
        "--state-box",
        choices=("label", "detector"),
        default="label",
        help="read the state on the labelled box (default) or the detector's",
    )
    ap.add_argument(
        "--state-height",
        type=int,
        default=0,
        metavar="PX",
        help="scale each crop so its plate is PX high, in a 1280x720 grey frame, "
        "before the state is read (as a camera sees a plate at a distance)",
    )
    ap.add_argument(
        "--state-min-height",
        type=int,
        help="read no state under this plate height (default: the daemon's, state.MIN_HEIGHT)",
    )
    ap.add_argument(
        "--state-sweep",
        action="store_true",
        help="print state_correct/state_wrong at several thresholds",
    )
    ap.add_argument("--half", choices=("even", "odd"), help="every other image only")
    ap.add_argument("--confusions", action="store_true", help="print a confusion table")
    ap.add_argument("--errors", action="store_true", help="print each miss")
    a = ap.parse_args()
    items = [json.loads(line) for line in (a.folder / "manifest.jsonl").read_text().splitlines()]
    items = [it for it in items if any(p.get("text") for p in it["plates"])]
    if a.half:
        items = items[0 if a.half == "even" else 1 :: 2]
    if a.limit:
        items = items[: a.limit]
    alone = a.reader == "global"  # always asked, and always preferred
    rec = Recognizer(
        detector=a.detector,
        ocr=a.ocr,
        threads=a.threads,
        detect_threshold=a.detect_threshold,
        min_confidence=a.min_confidence,
        deskew_min_deg=a.deskew_min_deg,
        second_reader=a.reader != "ours",
        second_below=1.01 if alone else a.second_below,
        second_weight=1e9 if alone else a.second_weight,
        state_min_confidence=a.state_min_confidence,
        second_model=a.second_model,
    )
    if a.state_reader == "words":
        from alprd.recognize import GLOBAL_OCR
        from alprd.recognize.second import GlobalReader

        states = StateReader(
            [rec.ocr, rec.second or GlobalReader(GLOBAL_OCR, a.threads)],
            a.state_min_confidence,
            (TOP, BOTTOM),
        )
    else:
        states = StateReader(
            None, a.state_min_confidence, threads=a.threads, min_height=a.state_min_height
        )
    crops = is_crop_set(items)
    state_ms = []
    exact = folded = found = false_reads = 0
    times, ious, confusions, seen = [], [], Counter(), []
    for it in items:
        img = cv2.imread(str(a.folder / it["image"]))
        label = next(p for p in it["plates"] if p.get("text"))
        want = clean(label["text"])
        t0 = time.monotonic()
        if crops:
            got_text = rec.read_box(img, label["bbox"])[0].text
            hit_box = True
            if label.get("state"):  # the match, named below at each threshold
                box = label["bbox"]
                if a.state_height:
                    img, box = in_frame(img, box, a.state_height)
                if a.state_box == "detector":
                    dets = sorted(rec.detector(img), key=lambda d: -iou(d.bbox, box))
                    box = [round(v) for v in dets[0].bbox] if dets else None
                keep = BOX_MARGIN if a.state_box == "detector" else (0.0, 0.0)
                t1 = time.monotonic()
                seen.append(
                    (
                        label["state"],
                        match(states.readings(crop_plate(img, box, *keep)))
                        if box
                        else (None, 0.0, 0.0),
                    )
                )
                state_ms.append((time.monotonic() - t1) * 1000)
        else:
            dets = rec.detector(img)
            plates = rec.read(img, dets)  # what rec(img) does, keeping the detections
            times.append((time.monotonic() - t0) * 1000)
            # recall is the detector's own (before the OCR's confidence filter)
            best_iou = max((iou(d.bbox, label["bbox"]) for d in dets), default=0.0)
            hit_box = best_iou >= 0.3
            if hit_box:
                ious.append(best_iou)
            false_reads += sum(
                all(iou(p.bbox, q["bbox"]) < 0.3 for q in it["plates"]) for p, _ in plates
            )
            # the best plate is the one on the labelled box when we found it, else our best
            on_box = [p for p, _ in plates if iou(p.bbox, label["bbox"]) >= 0.3]
            got_text = (on_box or [p for p, _ in plates] or [None])[0]
            got_text = got_text.text if got_text else ""
        if crops:
            times.append((time.monotonic() - t0) * 1000)
        found += hit_box
        exact += got_text == want
        folded += got_text.translate(FOLD) == want.translate(FOLD)
        if got_text != want:
            if a.errors:
                print(f"miss {it['image']}: want {want} got {got_text or '-'}")
            if len(got_text) == len(want):
                confusions.update((w, g) for w, g in zip(want, got_text) if w != g)
    n = len(items)
    print(f"images: {n}")
    print(
        f"mode: {'crops (OCR only)' if crops else 'full frames (detector + OCR)'}, "
        f"reader {a.reader}"
    )
    if not crops:
        print(f"detection_recall: {100 * found / n:.1f} %")
        print(f"false_reads_per_image: {false_reads / n:.2f} reads")
        if ious:
            print(f"box_iou_median: {statistics.median(ious):.2f} IoU")
    print(f"read_rate_folded: {100 * folded / n:.1f} %")
    print(f"median_ms: {statistics.median(times):.1f} ms")
    if seen:
        print(f"state_ms_median: {statistics.median(state_ms):.1f} ms")
        sweep = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0) if a.state_sweep else ()
        for t, tag in [(t, f"_at_{t:g}") for t in sweep] + [(a.state_min_confidence, "")]:
            said = [(want, got, m[1]) for want, m in seen if (got := named(*m, t))]
            right = sum(want == got for want, got, _ in said)
            print(f"state_correct{tag}: {100 * right / len(seen):.1f} %")
            print(f"state_wrong{tag}: {100 * (len(said) - right) / len(seen):.1f} %")
        if said:
            mean = statistics.fmean(calibrated(score) for _, _, score in said)
            print(f"state_confidence_mean: {100 * mean:.1f} %")
            print(f"state_named_right: {100 * right / len(said):.1f} %")
    if a.confusions:
        for (w, g), c in confusions.most_common(25):
            print(f"confusion {w}->{g}: {c}")
    print(f"read_rate: {100 * exact / n:.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
