"""The bundled models: their files and their version (alprd/recognize/models, made by train/)."""

from __future__ import annotations

from pathlib import Path

MODEL_DIR = Path(__file__).parent / "models"
DETECTOR = MODEL_DIR / "detector.tflite"
OCR = MODEL_DIR / "ocr.tflite"
OCR_CONFIG = MODEL_DIR / "ocr_plate_config.yaml"
GLOBAL_OCR = MODEL_DIR / "global_ocr.onnx"  # the second reader: fast-plate-ocr (MIT)
VERSION_FILE = MODEL_DIR / "VERSION"


def model_version() -> str:
    """The first word of models/VERSION, e.g. 'alprd-interim-1'."""
    try:
        return VERSION_FILE.read_text().split(":", 1)[0].strip()
    except OSError:
        return "unknown"
