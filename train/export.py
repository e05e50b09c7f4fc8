"""Export trained models into the package: alprd/recognize/models/.

    python -m train.export --ocr build/ocr_runs/<run>/best.keras \
        --detector build/det/detector.tflite

The OCR model goes through fast-plate-ocr's exporter (TFLite, int8 dynamic-range weights);
the detector is already int8 TFLite (train/detector.py). Prints sizes and load times.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = Path(__file__).resolve().parent.parent / "alprd" / "recognize" / "models"
PLATE_CONFIG = Path(__file__).resolve().parent / "configs" / "plate_us.yaml"


def export_ocr(keras_path: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                str(Path(sys.executable).parent / "fast-plate-ocr"),
                "export",
                "-m",
                str(keras_path),
                "-f",
                "tflite",
                "--plate-config-file",
                str(PLATE_CONFIG),
                "--save-dir",
                tmp,
            ],
            check=True,
        )
        found = list(Path(tmp).glob("*.tflite"))
        if len(found) != 1:
            raise SystemExit(f"export produced {found}")
        shutil.copy(found[0], out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ocr", type=Path, help="fast-plate-ocr best.keras")
    ap.add_argument("--detector", type=Path, help="detector.tflite from train.detector")
    a = ap.parse_args()
    MODELS.mkdir(parents=True, exist_ok=True)
    if a.ocr:
        export_ocr(a.ocr, MODELS / "ocr.tflite")
        shutil.copy(PLATE_CONFIG, MODELS / "ocr_plate_config.yaml")
    if a.detector:
        shutil.copy(a.detector, MODELS / "detector.tflite")
    from alprd.recognize.recognizer import Recognizer

    t0 = time.monotonic()
    Recognizer()
    print(f"load_time: {(time.monotonic() - t0) * 1000:.0f} ms")
    for p in sorted(MODELS.iterdir()):
        print(f"{p.name}: {p.stat().st_size / 1024:.0f} kB")


if __name__ == "__main__":
    main()
