"""Plate recognition: detector, crop, OCR. Models are the project's own (train/).

The bundled models: bundle.py; detector.py and ocr.py run them (runtime.py), rectify.py
levels a crop, recognizer.py puts them together.
"""
from alprd.recognize.bundle import (DETECTOR, MODEL_DIR, OCR, OCR_CONFIG, VERSION_FILE,
                                    model_version)

__all__ = ["DETECTOR", "MODEL_DIR", "OCR", "OCR_CONFIG", "VERSION_FILE", "model_version"]
