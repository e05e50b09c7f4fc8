"""train.agency_crops: an agency's labelled crops become fine-tuning CSVs and a holdout."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from alprd.recognize.recognizer import MARGIN_X, MARGIN_Y

ROOT = Path(__file__).resolve().parent.parent


def make_crops(folder: Path, n: int) -> None:
    (folder / "images").mkdir(parents=True)
    lines = []
    for i in range(n):
        img = np.full((60, 120, 3), 200, np.uint8)
        cv2.putText(img, f"AB{i:03d}", (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 0), 2)
        cv2.imwrite(str(folder / "images" / f"p{i}.png"), img)
        lines.append(
            json.dumps(
                {
                    "image": f"images/p{i}.png",
                    "width": 120,
                    "height": 60,
                    "plates": [{"text": f"ab-{i:03d}", "bbox": [0, 0, 120, 60]}],
                }
            )
        )
    lines.append(
        json.dumps(
            {
                "image": "images/none.png",
                "width": 1,
                "height": 1,
                "plates": [{"text": None, "bbox": [0, 0, 1, 1]}],
            }
        )
    )
    lines.append(
        json.dumps(
            {
                "image": "images/p0.png",
                "width": 120,
                "height": 60,
                "plates": [{"text": "JUST MAUI'D", "bbox": [0, 0, 120, 60]}],
            }
        )
    )
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")


def rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_agency_crops_split_cut_and_mix(tmp_path):
    make_crops(tmp_path / "agency", 20)
    mix = tmp_path / "synthetic" / "train.csv"
    mix.parent.mkdir()
    mix.write_text(
        "image_path,plate_text\n" + "".join(f"images/s{i}.png,SYN{i}\n" for i in range(50))
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.agency_crops",
            str(tmp_path / "agency"),
            "--out",
            str(out),
            "--holdout",
            "0.25",
            "--repeat",
            "3",
            "--mix",
            str(mix),
            "--mix-rows",
            "10",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "holdout_plates: 5" in done.stdout
    assert "left out 1 plates longer than 8 characters (e.g. JUSTMAUID)" in done.stdout
    holdout = [json.loads(x) for x in (out / "holdout" / "manifest.jsonl").read_text().splitlines()]
    train, val = rows(out / "train.csv"), rows(out / "val.csv")
    held = {h["plates"][0]["text"].replace("-", "").upper() for h in holdout}
    trained = {r["plate_text"] for r in train + val if not r["plate_text"].startswith("SYN")}
    assert len(held) == 5 and len(trained) == 15 and not held & trained  # no leak
    assert all(t.isalnum() and t.isupper() for t in trained)  # labels cleaned as the bench
    agency_train = [r for r in train if not r["plate_text"].startswith("SYN")]
    assert len(agency_train) == 3 * (15 - len(val))
    mixed = [r for r in train if r["plate_text"].startswith("SYN")]
    assert len(mixed) == 10
    # mixed rows point at the other set's images, relative to this CSV (fast-plate-ocr)
    assert (out / mixed[0]["image_path"]).resolve().parent == (mix.parent / "images")
    # each crop is cut by the recognizer's crop step: the plate plus its margin
    img = cv2.imread(str(out / agency_train[0]["image_path"]))
    assert img.shape[:2] == (60 + 2 * round(60 * MARGIN_Y), 120 + 2 * round(120 * MARGIN_X))
    # the holdout can be measured by bench/accuracy.py (absolute image paths)
    assert all(Path(h["image"]).is_absolute() and Path(h["image"]).exists() for h in holdout)


def test_a_plate_read_on_several_hits_is_kept_back_or_trained_never_both(tmp_path):
    """HQ's QA set holds a car once per verified hit: the split is by plate text, for the
    holdout and the validation rows alike (#37 item 4)."""
    folder = tmp_path / "qa"
    make_crops(folder, 30)
    lines = (folder / "manifest.jsonl").read_text().splitlines()[:30]
    for i, line in enumerate(lines):  # ten cars, three hits each, three different crops
        item = json.loads(line)
        item["plates"][0]["text"] = f"CAR{i % 10:03d}"
        lines[i] = json.dumps(item)
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    subprocess.run(
        [sys.executable, "-m", "train.agency_crops", str(folder), "--out", str(out)]
        + ["--holdout", "0.3", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    held = [
        json.loads(x)["plates"][0]["text"]
        for x in (out / "holdout" / "manifest.jsonl").read_text().splitlines()
    ]
    train = {r["plate_text"] for r in rows(out / "train.csv")}
    val = {r["plate_text"] for r in rows(out / "val.csv")}
    assert len(held) == 9 and len(set(held)) == 3  # whole cars, 30 % of the plates
    assert train and val and not set(held) & (train | val) and not train & val
