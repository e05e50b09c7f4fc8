"""Prepare an agency's own labelled plate crops for fine-tuning the OCR.

    python -m train.agency_crops CROPS_DIR --out build/agency --mix build/ocr_data2/train.csv

CROPS_DIR holds `manifest.jsonl` and `images/` in the format of ../shared/data (one JSON
line per image: `{"image": "images/x.png", "plates": [{"text": "7ABC123",
"bbox": [x1, y1, x2, y2]}]}`). Each labelled plate is cut out by the recognizer's own crop
step (box plus margin), so the fine-tuned model sees what the daemon will show it.

Writes, under --out:
- `train.csv` / `val.csv` for `fast-plate-ocr train`: the agency's crops (repeated), mixed
  with rows of an existing training CSV so the model keeps what it knew;
- `holdout/manifest.jsonl`: plates kept out of training (--holdout), to measure the gain
  with `python bench/accuracy.py build/agency/holdout --ocr ...`.

Weights fine-tuned on an agency's photos stay with that agency: they are not redistributable
unless the photos are.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
from pathlib import Path

import cv2

from alprd import recognize
from alprd.hotlist import normalise
from alprd.recognize.ocr import PlateConfig
from alprd.recognize.recognizer import crop_plate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("crops", type=Path, help="folder with manifest.jsonl and images/")
    ap.add_argument("--out", type=Path, default=Path("build/agency"))
    ap.add_argument(
        "--holdout",
        type=float,
        default=0.5,
        help="fraction of plates kept out of training to measure the gain",
    )
    ap.add_argument("--repeat", type=int, default=5, help="copies of each agency crop")
    ap.add_argument("--mix", type=Path, help="an existing training CSV to mix in")
    ap.add_argument("--mix-rows", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    items = [
        json.loads(line)
        for line in (a.crops / "manifest.jsonl").read_text().splitlines()
        if line.strip()
    ]
    slots = PlateConfig.from_yaml(recognize.OCR_CONFIG).max_plate_slots
    labelled = [(it, p, normalise(p.get("text") or "")) for it in items for p in it["plates"]]
    plates = [(it, p, text) for it, p, text in labelled if text]
    too_long = [text for _, _, text in plates if len(text) > slots]
    if too_long:  # the model has `slots` character slots; such plates cannot be learnt
        print(
            f"left out {len(too_long)} plates longer than {slots} characters (e.g. {too_long[0]})"
        )
        plates = [(it, p, text) for it, p, text in plates if len(text) <= slots]
    if not plates:
        raise SystemExit(f"{a.crops}: no labelled plates in manifest.jsonl")
    rng = random.Random(a.seed)
    rng.shuffle(plates)
    n_hold = int(len(plates) * a.holdout)
    (a.out / "images").mkdir(parents=True, exist_ok=True)
    (a.out / "holdout").mkdir(parents=True, exist_ok=True)
    rows, holdout = [], []
    for i, (it, plate, text) in enumerate(plates):
        src = (a.crops / it["image"]).resolve()
        if i < n_hold:
            holdout.append({**it, "image": str(src), "plates": [plate]})
            continue
        img = cv2.imread(str(src))
        if img is None:
            print(f"skipped {src}: not an image")
            continue
        name = f"agency_{i:06d}.png"
        cv2.imwrite(str(a.out / "images" / name), crop_plate(img, plate["bbox"]))
        rows.append((f"images/{name}", text))
    n_val = max(1, len(rows) // 10)
    val, train = rows[:n_val], rows[n_val:] * a.repeat
    if a.mix:
        with a.mix.open() as f:
            mixed = list(csv.DictReader(f))
        rel = os.path.relpath(a.mix.parent.resolve(), a.out.resolve())
        for row in rng.sample(mixed, min(a.mix_rows, len(mixed))):
            train.append((f"{rel}/{row['image_path']}", row["plate_text"]))
    rng.shuffle(train)
    for name, data in (("train.csv", train), ("val.csv", val)):
        with (a.out / name).open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image_path", "plate_text"])
            w.writerows(data)
    (a.out / "holdout" / "manifest.jsonl").write_text(
        "".join(json.dumps(h) + "\n" for h in holdout)
    )
    print(
        f"agency_plates: {len(plates)}\ntrain_plates: {len(rows) - n_val}\n"
        f"val_plates: {n_val}\nholdout_plates: {len(holdout)}\ntrain_rows: {len(train)}"
    )


if __name__ == "__main__":
    main()
