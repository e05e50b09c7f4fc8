"""A general text reader for the state's words: PaddleOCR's PP-OCRv6 small recogniser.

The plate readers were trained on registrations and read a plate's header and footer badly
(the state named on 11 % of real crops). PaddleOCR's recogniser reads any printed line; its
weights ship in the `rapidocr` wheel on PyPI (Apache-2.0, the wheel's
dist-info/licenses/MODEL_LICENSES.md): the ONNX file is taken from the installed package,
never downloaded, and rapidocr itself is never imported (its import pulls its own OpenCV and
half a dozen packages we do not need). The recogniser alone, no text detector: it reads a
strip of the crop as one line (the header: the top STRIPS[0] of the plate; the footer: the
bottom STRIPS[1]), resized to 48 pixels high; CTC decoding with the character list in the
model's metadata. Not trained here (train/MODEL_CARD.md).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np

from alprd.recognize.ocr import OcrResult

MODEL = "models/PP-OCRv6_rec_small.onnx"  # in rapidocr 3.10.0
HEIGHT = 48  # the recogniser's input height
MAX_WIDTH = 960  # a strip wider than 20 x its height is squeezed (no plate's line is)
STRIPS = (0.34, 0.30)  # header and footer, as fractions of the plate's height (us_plate_crops,
# even half: 0.34/0.30 named 91.5 % right, 0 % wrong; bench/accuracy.py --state-reader ppocr)


class StateOcrMissing(RuntimeError):
    """The recogniser's weights are not installed; the message says how to install them."""


def model_path() -> Path:
    """The ONNX file inside the installed rapidocr package (found without importing it)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise StateOcrMissing(
            "the state reader needs the rapidocr wheel's PP-OCR model: "
            "pip install 'rapidocr==3.10.0' (./run does)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL
    if not path.is_file():
        raise StateOcrMissing(f"{path} is missing: reinstall rapidocr==3.10.0")
    return path


class PpOcrReader:
    """Reads lines of text: a list of BGR strips in, one OcrResult each out (the text as
    read, spaces and punctuation included; confidence: the mean of the kept characters'
    probabilities)."""

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self.path = str(path or model_path())
        self.session = ort.InferenceSession(self.path, opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        listed = self.session.get_modelmeta().custom_metadata_map["character"].split("\n")
        self.chars = ["", *listed, " "]  # CTC blank first; PaddleOCR appends the space

    @staticmethod
    def preprocess(strip: np.ndarray) -> np.ndarray:
        h, w = strip.shape[:2]
        width = min(MAX_WIDTH, max(HEIGHT // 6, math.ceil(HEIGHT * w / max(h, 1))))
        x = cv2.resize(strip, (width, HEIGHT), interpolation=cv2.INTER_LINEAR)
        return ((x.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]

    def decode(self, probs: np.ndarray) -> OcrResult:
        best, conf = probs.argmax(1), probs.max(1)
        keep = (best != 0) & np.concatenate([[True], best[1:] != best[:-1]])
        text = "".join(self.chars[i] for i in best[keep])
        return OcrResult(text, tuple(float(c) for c in conf[keep]))

    def __call__(self, strips: list[np.ndarray]) -> list[OcrResult]:
        out = []
        for strip in strips:
            if strip.size == 0:
                out.append(OcrResult("", ()))
                continue
            probs = self.session.run(None, {self.input: self.preprocess(strip)})[0][0]
            out.append(self.decode(probs))
        return out
