"""Cleaner labels for the real Open Images crops, by agreement of three readers.

    python -m train.relabel --out build/relabel

openimages_plate_crops (CC BY) carries a PP-OCRv6 guess per crop (the teacher), not ground
truth. Here our OCR (interim, six-view vote) and fast-plate-ocr's global OCR (MIT) read each
crop too, and a crop keeps a label only where readers agree. Prints, per rule, how many crops
it keeps; and, for the rules that need no teacher, the precision the same rule has on
us_plate_crops, where the truth is known (that folder only measures; nothing from it is
written). Writes OUT/labels.jsonl: image, bbox, text, rule, for the strictest rule that holds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import cv2

from alprd import recognize
from alprd.recognize.recognizer import SECOND_VIEW, Recognizer, crop_plate
from alprd.recognize.second import GlobalReader

PLATE_RE = re.compile(r"^[A-Z0-9]{4,8}$")
RULES = ("all_three", "ours_and_global", "teacher_and_one", "teacher_alone_0.9")


def shared_data() -> Path:
    return Path(os.environ.get("ALPRD_SHARED_DATA", "../shared/data"))


def readings(folder: Path, ours: Recognizer, glob: GlobalReader):
    """(item, plate, our text, global text, teacher text, teacher conf) per labelled crop."""
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        item = json.loads(line)
        plate = item["plates"][0]
        img = cv2.imread(str(folder / item["image"]))
        if img is None:
            continue
        mine = ours.read_box(img, plate["bbox"])[0].text
        theirs = glob([crop_plate(img, plate["bbox"], *SECOND_VIEW)])[0].text
        yield (
            item,
            plate,
            mine,
            theirs,
            (plate.get("teacher_text") or "").upper(),
            float(plate.get("teacher_conf") or 0.0),
        )


def rule_of(mine: str, theirs: str, teacher: str, teacher_conf: float) -> str | None:
    """The strictest rule a crop's readings meet, or None (no label kept, or the agreed text
    is no plate: 4-8 of A-Z0-9)."""
    if mine == theirs == teacher:
        rule = "all_three"
    elif mine == theirs:
        rule = "ours_and_global"
    elif teacher and teacher in (mine, theirs):
        rule = "teacher_and_one"
    elif teacher_conf >= 0.9:
        rule = "teacher_alone_0.9"
    else:
        return None
    return rule if PLATE_RE.match(label_of(rule, mine, teacher)) else None


def label_of(rule: str, mine: str, teacher: str) -> str:
    return teacher if rule in ("teacher_and_one", "teacher_alone_0.9") else mine


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/relabel"))
    a = ap.parse_args()
    ours = Recognizer(second_reader=False)
    glob = GlobalReader(recognize.GLOBAL_OCR)
    truth = shared_data() / "us_plate_crops"
    if (truth / "manifest.jsonl").exists():  # the two-reader rule where the truth is known
        kept = right = n = 0
        for _item, plate, mine, theirs, _, _ in readings(truth, ours, glob):
            n += 1
            want = "".join(ch for ch in (plate.get("text") or "").upper() if ch.isalnum())
            if mine == theirs:
                kept += 1
                right += mine == want
        print(f"us_plate_crops_crops: {n} crops")
        print(f"us_plate_crops_ours_and_global_kept: {100 * kept / n:.1f} %")
        print(f"us_plate_crops_ours_and_global_precision: {100 * right / max(kept, 1):.1f} %")
    folder = shared_data() / "openimages_plate_crops"
    counts = dict.fromkeys(RULES, 0)
    total = 0
    a.out.mkdir(parents=True, exist_ok=True)
    with open(a.out / "labels.jsonl", "w") as f:
        for item, plate, mine, theirs, teacher, tconf in readings(folder, ours, glob):
            total += 1
            rule = rule_of(mine, theirs, teacher, tconf)
            if rule is None:
                continue
            text = label_of(rule, mine, teacher)
            counts[rule] += 1
            f.write(
                json.dumps(
                    {"image": item["image"], "bbox": plate["bbox"], "text": text, "rule": rule}
                )
                + "\n"
            )
    print(f"openimages_crops: {total} crops")
    cumulative = 0
    for rule in RULES:
        cumulative += counts[rule]
        print(f"openimages_kept_{rule}: {counts[rule]} crops (cumulative {cumulative})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
