"""A QA crop set in `alprd hq qa-export`'s format from Open Images crops, standing in for
officers' verified hits where no field set exists yet (tests, and measuring the round).

    python -m train.qa_standin --out build/qa-standin [--limit 400]

Takes the crops of `openimages_plate_crops` whose PP-OCRv6 guess was confident (>= 0.9) and
looks like a plate (4-8 letters and digits), cuts each as the car stores a read's crop (the
box with the readers' margin) and labels it as an officer's confirmation would be. The
guesses are machine labels, about 5 in 6 right by a spot check: figures measured against
them are not accuracy (that folder's README). Measure a round's gain on human-labelled
folders too (train.qa_round --confirm).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2

from alprd.protocol.bodies import plate_in_crop
from alprd.recognize.recognizer import crop_plate
from train.make_ocr_data import PLATE_RE, shared_data

MIN_CONF = 0.9


def build(out: Path, limit: int = 0) -> int:
    """Write out/manifest.jsonl and out/images/; returns the crops written."""
    src = shared_data() / "openimages_plate_crops"
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for line in (src / "manifest.jsonl").read_text().splitlines():
        item = json.loads(line)
        plate = item["plates"][0]
        text = plate.get("teacher_text") or ""
        if (plate.get("teacher_conf") or 0) < MIN_CONF or not PLATE_RE.match(text):
            continue
        img = cv2.imread(str(src / item["image"]))
        if img is None:
            continue
        crop = crop_plate(img, plate["bbox"])
        name = f"images/{Path(item['image']).stem}.jpg"
        cv2.imwrite(str(out / name), crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
        h, w = crop.shape[:2]
        lines.append(
            json.dumps(
                {
                    "image": name,
                    "width": w,
                    "height": h,
                    "plates": [{"text": text, "bbox": plate_in_crop(w, h), "state": None}],
                    "label": "confirmed",
                    "read_text": text,
                    "source": {"unit_id": "OPENIMAGES", "read_id": item["openimages_id"]},
                }
            )
        )
        if limit and len(lines) >= limit:
            break
    (out / "manifest.jsonl").write_text("".join(x + "\n" for x in lines))
    return len(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/qa-standin"))
    ap.add_argument("--limit", type=int, default=0, help="the first N crops only")
    a = ap.parse_args()
    print(f"qa_crops: {build(a.out, a.limit)}")


if __name__ == "__main__":
    main()
