"""One retraining round from HQ's QA crop set (#37 item 4): the plates officers confirmed or
typed fine-tune the shipped OCR, and plates kept back measure the gain.

    python -m train.qa_round qa-2026-w49 --out build/qa-round \
        --confirm ../shared/data/us_plate_crops ../shared/data/us_e2e_dev

QA_DIR is what `alprd hq qa-export` wrote (manifest.jsonl + images/). The round, each step a
project script:

1. `train.agency_crops`: the plates split by their text (a car on several hits is trained on
   or kept back, never both), --holdout of them kept back; the rest cut by the recognizer's
   crop step, repeated, mixed with --synthetic plates rendered now (`train.make_ocr_data`'s
   synthetic half, no real crops: they could hold the QA set's own plates) so the model keeps
   what it knew;
2. `train.ocr_from_tflite`: the shipped OCR's weights as a Keras model, the round's starting
   point; refused unless, exported again, it reads as the shipped file;
3. `fast-plate-ocr train` from those weights (--epochs, --lr), the best epoch on the
   validation plates;
4. `train.export`'s exporter (int8 weights, as shipped), into OUT/models/ beside the package's
   other models: the folder `alprd hq models add --models-dir` bundles. The round stops if
   the new models do not read the self-test's reference plate (a car would refuse them).
5. `bench/alerts.py` and `bench/accuracy.py` on the kept-back plates and on each --confirm
   folder, with the shipped OCR and with the new one. Prints each figure before and after,
   and the gain, one per line (`holdout_alert_recall_gain: +2.0 pts`), then the round's
   verdict: worth a canary group only with a gain on the kept-back plates and no loss
   anywhere (fewer alerts or plates read, more false alerts).

Ship only what gains on the kept-back plates and loses nothing on the confirm folders
(a canary group first: docs/hq-operations.md). Weights tuned on an agency's field crops hold
its ALPR data's pixels: they stay with the agency.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from alprd.protocol.bundle import FILES
from alprd.recognize import MODEL_DIR
from train import agency_crops, export, make_ocr_data, ocr_from_tflite
from train.ocr_from_tflite import MODEL_CONFIG, PLATE_CONFIG

ROOT = Path(__file__).resolve().parent.parent
FIGURE = re.compile(r"^(\w+): (-?[\d.]+) (.+)$")
# the figures compared, in the order printed: alerts first (what an officer sees)
ALERTS = ("alert_recall", "false_alerts_per_1000_reads")
ACCURACY = ("read_rate", "read_rate_folded")


def synthetic(out: Path, n: int, seed: int) -> Path:
    """n synthetic crops rendered into out (images/, train.csv); the CSV's path."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    jobs = [(s, min(500, n - s), out, seed, 0.05, 0.0) for s in range(0, n, 500)]
    with mp.Pool(os.cpu_count() or 1) as pool:
        rows = [r for part in pool.map(make_ocr_data._work, jobs) for r in part]
    make_ocr_data.write_csv(out / "train.csv", rows)
    return out / "train.csv"


def fine_tune(weights: Path, data: Path, runs: Path, a: argparse.Namespace) -> Path:
    """fast-plate-ocr train from weights on data's CSVs; the run's best.keras."""
    runs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "fast-plate-ocr"),
            "train",
            "--model-config-file",
            str(MODEL_CONFIG),
            "--plate-config-file",
            str(PLATE_CONFIG),
            "--annotations",
            str(data / "train.csv"),
            "--val-annotations",
            str(data / "val.csv"),
            "--epochs",
            str(a.epochs),
            "--batch-size",
            str(a.batch_size),
            "--lr",
            str(a.lr),
            "--weights-path",
            str(weights),
            "--output-dir",
            str(runs),
        ],
        check=True,
    )
    best = sorted(runs.glob("*/best.keras"))
    if not best:
        raise SystemExit(f"fast-plate-ocr train left no best.keras under {runs}")
    return best[-1]


def models_folder(best: Path, out: Path) -> Path:
    """The package's models with the new OCR in place: what `alprd hq models add` bundles."""
    from alprd.config import RecognizeConfig
    from alprd.recognize.recognizer import Recognizer, reads_reference

    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy(MODEL_DIR / name, out / name)
    export.export_ocr(best, out / "ocr.tflite")
    shutil.copy(PLATE_CONFIG, out / "ocr_plate_config.yaml")
    known, read = reads_reference(Recognizer.from_config(RecognizeConfig(), bundle=out))  # as a car
    if known not in read:
        raise SystemExit(f"the new OCR reads the self-test's plate {known} as {read}: not kept")
    return out


def figures(bench: str, folder: Path, ocr: Path | None, extra: list[str]) -> dict[str, tuple]:
    """A bench's printed figures {name: (value, unit)}, run as a user runs it."""
    cmd = [sys.executable, str(ROOT / "bench" / bench), str(folder), *extra]
    done = subprocess.run(
        cmd + (["--ocr", str(ocr)] if ocr else []),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    out = {}
    for line in done.stdout.splitlines():
        m = FIGURE.match(line)
        if m:
            out[m[1]] = (float(m[2]), m[3])
    return out


def compare(folder: Path, new_ocr: Path, a: argparse.Namespace) -> dict[str, tuple]:
    """{figure: (shipped OCR's value, new OCR's, unit)} on folder, alerts first."""
    out = {}
    for bench, names, extra in (
        ("alerts.py", ALERTS, ["--decoys", str(a.decoys), "--pass-frames", "0"]),
        ("accuracy.py", ACCURACY, []),
    ):
        before = figures(bench, folder, None, extra)
        after = figures(bench, folder, new_ocr, extra)
        for name in names:
            if name in before and name in after:
                out[name] = (before[name][0], after[name][0], before[name][1])
    return out


def lines(tag: str, got: dict[str, tuple]) -> list[str]:
    """`TAG_NAME_before/after/gain: value unit`, one per line."""
    out = []
    for name, (b, n, unit) in got.items():
        out += [
            f"{tag}_{name}_before: {b:.1f} {unit}",
            f"{tag}_{name}_after: {n:.1f} {unit}",
            f"{tag}_{name}_gain: {n - b:+.1f} {'pts' if unit == '%' else unit}",
        ]
    return out


def verdict(held: dict[str, tuple], confirm: dict[str, dict[str, tuple]]) -> str:
    """Whether the round is worth a canary group: a gain on the kept-back plates and no loss
    anywhere (fewer alerts, more false ones, fewer plates read)."""
    losses = [
        f"{tag} {name} {n - b:+.1f}"
        for tag, got in {"holdout": held, **confirm}.items()
        for name, (b, n, _) in got.items()
        if (n > b if name.startswith("false_") else n < b)
    ]
    gained = any(
        held[name][1] > held[name][0] for name in ("alert_recall", "read_rate") if name in held
    )
    if losses:
        return "do not ship: " + ", ".join(losses)
    if not gained:
        return "do not ship: no gain on the kept-back plates"
    return "worth a canary group: gains on the kept-back plates, no loss measured"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("qa", type=Path, help="the folder `alprd hq qa-export` wrote")
    ap.add_argument("--out", type=Path, default=Path("build/qa-round"))
    ap.add_argument("--holdout", type=float, default=0.3, help="share of plates kept back")
    ap.add_argument("--repeat", type=int, default=5, help="copies of each QA crop")
    ap.add_argument("--synthetic", type=int, default=3000, help="synthetic plates mixed in")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--decoys", type=int, default=200_000, help="bench/alerts.py's list")
    ap.add_argument(
        "--confirm",
        type=Path,
        nargs="*",
        default=[],
        help="labelled folders (../shared/data's format) measured before and after too",
    )
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    if a.out.exists():
        raise SystemExit(f"{a.out} exists: name a new folder for each round")
    data = a.out / "data"
    mix = synthetic(a.out / "synthetic", a.synthetic, a.seed)
    counts = agency_crops.prepare(a.qa, data, a.holdout, a.repeat, mix, a.synthetic, a.seed)
    if not counts["holdout_plates"] or not counts["train_plates"]:
        raise SystemExit(f"{a.qa}: too few plates to keep some back and train on the rest")
    weights = a.out / "shipped.keras"
    ocr_from_tflite.recover_checked(MODEL_DIR / "ocr.tflite", weights, mix, 200)
    best = fine_tune(weights, data, a.out / "runs", a)
    models = models_folder(best, a.out / "models")
    print(f"models: {models} (alprd hq models add --models-dir {models} --version ...)")
    held = compare(data / "holdout", models / "ocr.tflite", a)
    confirm = {f.name: compare(f, models / "ocr.tflite", a) for f in a.confirm}
    report = lines("holdout", held)
    for tag, got in confirm.items():
        report += lines(tag, got)
    print("\n".join(report))
    print(f"round: {verdict(held, confirm)}")


if __name__ == "__main__":
    main()
