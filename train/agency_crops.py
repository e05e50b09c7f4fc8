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

Plates are split by their text (a car read on several hits, as in HQ's QA set, is either
trained on or kept back, never both); so are the validation rows. `python -m train.qa_round`
runs the whole round from HQ's QA set: this split, the fine-tune from the shipped weights,
and the gain.

Weights fine-tuned on an agency's photos stay with that agency: they are not redistributable
unless the photos are.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
from collections import Counter
from pathlib import Path

import cv2

from alprd import recognize
from alprd.hotlist import normalise
from alprd.recognize.ocr import PlateConfig
from alprd.recognize.recognizer import crop_plate


def _whole_texts(order: list[str], plates: list[str], goal: float) -> set[str]:
    """Texts taken whole in `order` until they cover `goal` of the plates (one per entry of
    `plates`)."""
    per_text = Counter(plates)
    taken: set[str] = set()
    n = 0
    for text in order:
        if n >= goal:
            break
        taken.add(text)
        n += per_text[text]
    return taken


def prepare(
    crops: Path,
    out: Path,
    holdout: float = 0.5,
    repeat: int = 5,
    mix: Path | None = None,
    mix_rows: int = 3000,
    seed: int = 7,
) -> dict[str, int]:
    """Write train.csv, val.csv, images/ and holdout/manifest.jsonl under out; returns the
    counts it prints. Plates are split by their text: a car read twice (a field set has
    many) is either trained on or kept back, never both, so the holdout measures plates the
    model never saw."""
    items = [
        json.loads(line)
        for line in (crops / "manifest.jsonl").read_text().splitlines()
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
        raise SystemExit(f"{crops}: no labelled plates in manifest.jsonl")
    rng = random.Random(seed)
    texts = sorted({text for _, _, text in plates})
    rng.shuffle(texts)
    held_texts = _whole_texts(texts, [text for _, _, text in plates], len(plates) * holdout)
    rng.shuffle(plates)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "holdout").mkdir(parents=True, exist_ok=True)
    rows, kept_back = [], []
    for i, (it, plate, text) in enumerate(plates):
        src = (crops / it["image"]).resolve()
        if text in held_texts:
            kept_back.append({**it, "image": str(src), "plates": [plate]})
            continue
        img = cv2.imread(str(src))
        if img is None:
            print(f"skipped {src}: not an image")
            continue
        name = f"agency_{i:06d}.png"
        cv2.imwrite(str(out / "images" / name), crop_plate(img, plate["bbox"]))
        rows.append((f"images/{name}", text))
    # validation rows: whole texts too, so the best epoch is not chosen on trained plates
    row_texts = [text for _, text in rows]
    val_texts = _whole_texts(list(dict.fromkeys(row_texts)), row_texts, max(1, len(rows) // 10))
    val = [r for r in rows if r[1] in val_texts]
    train = [r for r in rows if r[1] not in val_texts] * repeat
    n_train_plates = len(rows) - len(val)
    if mix:
        with mix.open() as f:
            mixed = list(csv.DictReader(f))
        rel = os.path.relpath(mix.parent.resolve(), out.resolve())
        for row in rng.sample(mixed, min(mix_rows, len(mixed))):
            train.append((f"{rel}/{row['image_path']}", row["plate_text"]))
    rng.shuffle(train)
    for name, data in (("train.csv", train), ("val.csv", val)):
        with (out / name).open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image_path", "plate_text"])
            w.writerows(data)
    (out / "holdout" / "manifest.jsonl").write_text(
        "".join(json.dumps(h) + "\n" for h in kept_back)
    )
    counts = {
        "agency_plates": len(plates),
        "train_plates": n_train_plates,
        "val_plates": len(val),
        "holdout_plates": len(kept_back),
        "train_rows": len(train),
    }
    print("".join(f"{k}: {v}\n" for k, v in counts.items()), end="")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("crops", type=Path, help="folder with manifest.jsonl and images/")
    ap.add_argument("--out", type=Path, default=Path("build/agency"))
    ap.add_argument(
        "--holdout",
        type=float,
        default=0.5,
        help="share of plates kept out of training to measure the gain",
    )
    ap.add_argument("--repeat", type=int, default=5, help="copies of each agency crop")
    ap.add_argument("--mix", type=Path, help="an existing training CSV to mix in")
    ap.add_argument("--mix-rows", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    prepare(a.crops, a.out, a.holdout, a.repeat, a.mix, a.mix_rows, a.seed)


if __name__ == "__main__":
    main()
