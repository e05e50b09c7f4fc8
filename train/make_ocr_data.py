"""Build the OCR training set: synthetic US plate crops plus filtered real Open Images crops.

    python -m train.make_ocr_data --out build/ocr_data2 --synthetic 20000

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

from train import camera, plate_text

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
    start, count, out_dir, seed, p_two_line, p_wide = args
    rng = random.Random(seed + start)
    backgrounds = load_backgrounds(40, seed + start)
    rows = []
    for i in range(start, start + count):
        text = plate_text.wide_text(rng) if rng.random() < p_wide else None
        crop, text, state = camera.ocr_crop(rng, backgrounds, text=text, p_two_line=p_two_line)
        name = f"syn_{i:06d}.png"
        cv2.imwrite(str(out_dir / "images" / name), crop[..., ::-1])
        rows.append((f"images/{name}", text))
    return rows


def _agreeing(items: list[tuple[str, object]], model: Path | None = None) -> list[str]:
    """What our OCR model (default: the shipped one) reads on each crop (the self-training
    filter)."""
    from alprd import recognize
    from alprd.recognize.ocr import PlateOcr

    ocr = PlateOcr(model or recognize.OCR, recognize.OCR_CONFIG, os.cpu_count() or 1)
    return [r.text for r in ocr([crop for _, crop in items])]


def real_crops(
    out_dir: Path,
    min_conf: float,
    agree_conf: float,
    repeat: int,
    seed: int,
    agree_model: Path | None = None,
    labels: Path | None = None,
) -> list[list[tuple[str, str]]]:
    """Real Open Images crops with the teacher's text, each written `repeat` times with a
    different margin around the labelled box (tight to loose, as detector boxes vary).

    Kept: the teacher was confident (>= min_conf), or fairly confident (>= agree_conf) and
    our shipped model reads the same text; the text must fit a plate pattern. With labels
    (train.relabel's labels.jsonl: image, bbox, text agreed by the readers), exactly the
    crops and texts it lists instead.
    Returns one list of rows per plate (its versions), so a plate never sits in both the
    training and the validation split."""
    folder = shared_data() / "openimages_plate_crops"
    manifest = folder / "manifest.jsonl"
    if not manifest.exists():
        print(f"skipping real crops: {manifest} not found (set ALPRD_SHARED_DATA)")
        return []
    candidates = []
    if labels:
        for line in labels.read_text().splitlines():
            item = json.loads(line)
            img = cv2.imread(str(folder / item["image"]))
            if img is not None and PLATE_RE.match(item["text"]):
                candidates.append((item, 0, {"bbox": item["bbox"]}, item["text"], 1.0, img))
    else:
        for line in manifest.read_text().splitlines():
            item = json.loads(line)
            for k, plate in enumerate(item["plates"]):
                text = (plate.get("teacher_text") or "").upper()
                conf = plate.get("teacher_conf", 0)
                if conf < min(min_conf, agree_conf) or not PLATE_RE.match(text):
                    continue
                img = cv2.imread(str(folder / item["image"]))
                if img is None:
                    continue
                candidates.append((item, k, plate, text, conf, img))
    ours = [None] * len(candidates)
    if agree_conf < min_conf and not labels:
        # agreement is judged on a crop with the recognizer's own margin
        views = []
        for _item, _k, plate, text, _conf, img in candidates:
            x1, y1, x2, y2 = plate["bbox"]
            mx, my = int((x2 - x1) * 0.10), int((y2 - y1) * 0.18)
            views.append((text, img[max(0, y1 - my) : y2 + my, max(0, x1 - mx) : x2 + mx]))
        ours = _agreeing(views, agree_model)
    rng = random.Random(seed)
    plates = []
    for (item, k, plate, text, conf, img), mine in zip(candidates, ours):
        if conf < min_conf and mine != text:
            continue
        x1, y1, x2, y2 = plate["bbox"]
        h, w = img.shape[:2]
        versions = []
        for r in range(repeat):
            fx, fy = (0.08, 0.15) if r == 0 else (rng.uniform(0.0, 0.2), rng.uniform(0.0, 0.35))
            mx, my = int((x2 - x1) * fx), int((y2 - y1) * fy)
            crop = img[max(0, y1 - my) : min(h, y2 + my), max(0, x1 - mx) : min(w, x2 + mx)]
            if crop.size == 0 or crop.shape[0] < 10:
                continue
            name = f"real_{Path(item['image']).stem}_{k}_{r}.png"
            cv2.imwrite(str(out_dir / "images" / name), crop)
            versions.append((f"images/{name}", text))
        if versions:
            plates.append(versions)
    return plates


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
    ap.add_argument(
        "--agree-conf",
        type=float,
        default=0.5,
        help="also keep crops down to this teacher confidence where our model agrees",
    )
    ap.add_argument(
        "--agree-model",
        type=Path,
        help="OCR .tflite whose reading must agree (default: the shipped one; "
        "name the previous round's to rebuild a round)",
    )
    ap.add_argument(
        "--labels",
        type=Path,
        help="train.relabel's labels.jsonl: take its agreed crops and texts "
        "instead of the teacher's confident ones",
    )
    ap.add_argument(
        "--real-repeat",
        type=int,
        default=3,
        help="versions of each real crop, each with another margin",
    )
    ap.add_argument(
        "--two-line",
        type=float,
        default=0.05,
        help="share of synthetic plates (of 6+ characters) set on two lines",
    )
    ap.add_argument(
        "--wide-letters",
        type=float,
        default=0.0,
        help="share of synthetic plates with one or two wide letters (W, M, N, H)",
    )
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    (a.out / "images").mkdir(parents=True, exist_ok=True)
    chunk = 500
    jobs = [
        (s, min(chunk, a.synthetic - s), a.out, a.seed, a.two_line, a.wide_letters)
        for s in range(0, a.synthetic, chunk)
    ]
    with mp.Pool(a.workers) as pool:
        syn = [r for rows in pool.map(_work, jobs) for r in rows]
    real = real_crops(
        a.out, a.real_min_conf, a.agree_conf, a.real_repeat, a.seed, a.agree_model, a.labels
    )
    rng = random.Random(a.seed)
    rng.shuffle(syn)
    rng.shuffle(real)
    n_val_syn, n_val_real = len(syn) // 20, len(real) // 10
    val = syn[:n_val_syn] + [versions[0] for versions in real[:n_val_real]]
    train = syn[n_val_syn:] + [row for versions in real[n_val_real:] for row in versions]
    rng.shuffle(train)
    write_csv(a.out / "train.csv", train)
    write_csv(a.out / "val.csv", val)
    print(
        f"synthetic: {len(syn)}\nreal: {len(real)}\ntrain rows: {len(train)}\nval rows: {len(val)}"
    )


if __name__ == "__main__":
    main()
