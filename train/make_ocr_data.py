"""Build the OCR training set: synthetic US plate crops plus filtered real Open Images crops.

    python -m train.make_ocr_data --out build/ocr_data --synthetic 12000

Writes images and fast-plate-ocr annotation CSVs (train.csv, val.csv). Real crops come only
from openimages_plate_crops (CC BY), kept where the PP-OCR teacher was confident and its
text fits a plate pattern. AGPL evaluation sets are never read here.
"""
from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import random
import re
from pathlib import Path

import cv2

from train import synth

PLATE_RE = re.compile(r"^[A-Z0-9]{4,8}$")


def shared_data() -> Path:
    return Path(os.environ.get("ALPRD_SHARED_DATA", "../shared/data"))


def load_backgrounds(n: int, seed: int) -> list:
    """Random patches of Open Images scenes (CC BY) as crop backgrounds."""
    folder = shared_data() / "openimages_plates" / "images"
    files = sorted(folder.glob("*.jpg"))
    rng = random.Random(seed)
    out = []
    for path in rng.sample(files, min(n, len(files))):
        img = cv2.imread(str(path))
        if img is not None:
            out.append(img[..., ::-1].copy())
    return out


def _work(args):
    start, count, out_dir, seed = args
    rng = random.Random(seed + start)
    backgrounds = load_backgrounds(40, seed + start)
    rows = []
    for i in range(start, start + count):
        crop, text, state = synth.ocr_crop(rng, backgrounds)
        name = f"syn_{i:06d}.png"
        cv2.imwrite(str(out_dir / "images" / name), crop[..., ::-1])
        rows.append((f"images/{name}", text))
    return rows


def real_crops(out_dir: Path, min_conf: float) -> list[tuple[str, str]]:
    folder = shared_data() / "openimages_plate_crops"
    manifest = folder / "manifest.jsonl"
    if not manifest.exists():
        print(f"skipping real crops: {manifest} not found (set ALPRD_SHARED_DATA)")
        return []
    rows = []
    for line in manifest.read_text().splitlines():
        item = json.loads(line)
        for k, plate in enumerate(item["plates"]):
            text = (plate.get("teacher_text") or "").upper()
            if plate.get("teacher_conf", 0) < min_conf or not PLATE_RE.match(text):
                continue
            img = cv2.imread(str(folder / item["image"]))
            if img is None:
                continue
            x1, y1, x2, y2 = plate["bbox"]
            h, w = img.shape[:2]
            mx, my = int((x2 - x1) * 0.08), int((y2 - y1) * 0.15)
            crop = img[max(0, y1 - my):min(h, y2 + my), max(0, x1 - mx):min(w, x2 + mx)]
            if crop.size == 0 or crop.shape[0] < 10:
                continue
            name = f"real_{Path(item['image']).stem}_{k}.png"
            cv2.imwrite(str(out_dir / "images" / name), crop)
            rows.append((f"images/{name}", text))
    return rows


def write_csv(path: Path, rows) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_path", "plate_text"])
        w.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/ocr_data"))
    ap.add_argument("--synthetic", type=int, default=12000)
    ap.add_argument("--real-min-conf", type=float, default=0.9)
    ap.add_argument("--real-repeat", type=int, default=3, help="oversample real crops")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    (a.out / "images").mkdir(parents=True, exist_ok=True)
    chunk = 500
    jobs = [(s, min(chunk, a.synthetic - s), a.out, a.seed) for s in range(0, a.synthetic, chunk)]
    with mp.Pool(a.workers) as pool:
        syn = [r for rows in pool.map(_work, jobs) for r in rows]
    real = real_crops(a.out, a.real_min_conf)
    rng = random.Random(a.seed)
    rng.shuffle(syn)
    rng.shuffle(real)
    n_val_syn, n_val_real = len(syn) // 20, len(real) // 10
    val = syn[:n_val_syn] + real[:n_val_real]
    train = syn[n_val_syn:] + real[n_val_real:] * a.real_repeat
    rng.shuffle(train)
    write_csv(a.out / "train.csv", train)
    write_csv(a.out / "val.csv", val)
    print(f"synthetic: {len(syn)}\nreal: {len(real)}\ntrain rows: {len(train)}\n"
          f"val rows: {len(val)}")


if __name__ == "__main__":
    main()
