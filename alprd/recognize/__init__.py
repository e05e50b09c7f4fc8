"""Plate recognition: detector, crop, OCR. The detector and OCR are the project's own (train/);
the second reader is fast-plate-ocr's global OCR (MIT), asked where ours is unsure. Both
read the words that name the plate's state (state.py).

The bundled models: bundle.py; detector.py and ocr.py run ours (runtime.py), second.py the
second reader (onnxruntime), state.py the plate's state, rectify.py levels a crop,
recognizer.py puts them together.
"""

from alprd.recognize.bundle import (
    DETECTOR,
    GLOBAL_OCR,
    MODEL_DIR,
    OCR,
    OCR_CONFIG,
    VERSION_FILE,
    model_version,
)

__all__ = [
    "DETECTOR",
    "GLOBAL_OCR",
    "MODEL_DIR",
    "OCR",
    "OCR_CONFIG",
    "VERSION_FILE",
    "model_version",
]
