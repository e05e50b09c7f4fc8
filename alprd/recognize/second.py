"""The second reader: fast-plate-ocr's published global OCR (MIT), beside our own.

Its errors differ from ours (it reads stacked class letters and left art as extra leading
characters; ours confuses O/0 and end characters on cut boxes), so where our vote is unsure
the two are combined (combine()). It runs on onnxruntime, one thread by default; the weights
ship as models/global_ocr.onnx with their MIT notice (models/LICENSE-fast-plate-ocr).
Interface (read from the file): uint8 [N, 64, 128, 3] RGB, the crop resized without keeping
the aspect ratio; float32 [N, 9, 37] per-slot probabilities over ALPHABET, `_` = empty slot.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from alprd.recognize.ocr import OcrResult
from alprd.recognize.runtime import ModelError

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
PAD = "_"
SIZE = (128, 64)  # width, height


class GlobalReader:
    def __init__(self, model_path: Path, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError(
                "the second reader needs onnxruntime: pip install onnxruntime"
            ) from exc
        if not Path(model_path).is_file():
            raise ModelError(f"model file not found: {model_path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(model_path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own, undocumented types
            raise ModelError(f"cannot load model {model_path}: {exc}") from exc
        self.input = self.session.get_inputs()[0].name

    def __call__(self, crops: list[np.ndarray]) -> list[OcrResult]:
        return self.read(model_input(crops)) if crops else []

    def read(self, inputs: np.ndarray) -> list[OcrResult]:
        """The readings of model_input()'s array."""
        return [decode(p) for p in self.session.run(None, {self.input: inputs})[0]]


def model_input(crops: list[np.ndarray]) -> np.ndarray:
    """BGR crops as the model takes them: uint8 [N, 64, 128, 3] RGB, each resized without
    keeping its aspect ratio."""
    return np.stack(
        [
            cv2.resize(cv2.cvtColor(c, cv2.COLOR_BGR2RGB), SIZE, interpolation=cv2.INTER_LINEAR)
            for c in crops
        ]
    )


def decode(probs: np.ndarray) -> OcrResult:
    chars, confs = [], []
    for i, c in zip(probs.argmax(axis=1), probs.max(axis=1)):
        if ALPHABET[i] != PAD:
            chars.append(ALPHABET[i])
            confs.append(float(c))
    return OcrResult("".join(chars), tuple(confs), probs)


def combine(ours: OcrResult, theirs: OcrResult, weight: float) -> OcrResult:
    """Our reading and the second reader's, character by character: where the texts are as
    long, each position takes the character whose confidence is higher, the second reader's
    counted `weight` times; otherwise the whole text of the more confident reader (the same
    weighting). Chosen on half of us_plate_crops (see MODEL_CARD.md, "Two readers")."""
    if len(ours.text) == len(theirs.text):
        picked = [
            (a, ca) if ca >= weight * cb else (b, cb)
            for a, b, ca, cb in zip(
                ours.text, theirs.text, ours.char_confidences, theirs.char_confidences
            )
        ]
        out = OcrResult("".join(ch for ch, _ in picked), tuple(c for _, c in picked))
    else:
        out = ours if ours.confidence >= weight * theirs.confidence else theirs
    if out.text != ours.text and out.confidence > ours.confidence:
        # the second reader may correct a reading but never lift it over the confidence
        # filter on its own: a box our vote was unsure of stays as unsure (false reads)
        scale = ours.confidence / out.confidence
        out = OcrResult(out.text, tuple(c * scale for c in out.char_confidences))
    return out
