"""Frame in, plates out: detect, crop with a margin, read, filter."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from alprd import recognize
from alprd.config import RecognizeConfig
from alprd.protocol.bodies import CROP_MARGIN_X, CROP_MARGIN_Y
from alprd.recognize import nbest, second
from alprd.recognize.detector import Detection, Detector
from alprd.recognize.frameform import as_bgr8
from alprd.recognize.ocr import OcrResult, PlateOcr
from alprd.recognize.rectify import level, region, skew_angle
from alprd.recognize.second import GlobalReader, combine
from alprd.recognize.state import BOX_MARGIN, StateReader
from alprd.types import PlateRead

MARGIN_X, MARGIN_Y = CROP_MARGIN_X, CROP_MARGIN_Y  # the stored crop's, as the protocol says
# Each plate is read at these margins (fractions of the box's width and height; a negative
# margin cuts inside the box) and the views vote: the text whose readings sum to the most
# confidence wins. The crop stored with the read (POL-01) has the MARGIN_X/Y margin. Where
# the vote is unsure (second_below) but not hopeless (SECOND_FLOOR), the second reader reads
# the plate at SECOND_VIEW and the two readings are combined. Every box is screened with the
# first view first: under FAINT_SCORE it must read at min_confidence there, any other box at
# SCREEN_CONFIDENCE (a grille, a badge, a date stamp is not worth five more runs).
# How each figure was chosen, with what it measured: train/MODEL_CARD.md, "Views, screen and
# the second reader's gate".
VIEWS = ((0.05, 0.10), (0.15, 0.30), (-0.06, 0.0), (0.0, 0.20), (0.10, 0.0), (0.20, 0.30))
SECOND_VIEW = (0.05, 0.10)
FAINT_SCORE = 0.2
SCREEN_CONFIDENCE = 0.2
SECOND_FLOOR = 0.5


def crop_plate(
    image: np.ndarray, bbox: Sequence[float], mx: float = MARGIN_X, my: float = MARGIN_Y
) -> np.ndarray:
    """The plate with a small margin (POL-01: a tight crop, never the scene).

    Where the margin would fall outside the image (a plate at the frame's edge, or a crop
    that is already just the plate), the edge pixels are repeated, so the OCR always sees
    the plate at the scale it was trained on."""
    x1, y1, x2, y2 = bbox
    dx, dy = (x2 - x1) * mx, (y2 - y1) * my
    return region(image, round(x1 - dx), round(y1 - dy), round(x2 + dx), round(y2 + dy))


def plate_box(
    crop: np.ndarray,
    bbox: Sequence[float],
    keep: tuple[float, float] = (0.0, 0.0),
    mx: float = MARGIN_X,
    my: float = MARGIN_Y,
) -> np.ndarray:
    """The box with margins `keep` (no larger than mx, my), cut from a crop that crop_plate()
    made with margins mx, my: what crop_plate(image, bbox, *keep) would have cut from the
    frame, which is gone by then (the state is read on it: state.BOX_MARGIN)."""
    x1, y1, x2, y2 = bbox
    w, h = x2 - x1, y2 - y1
    left, top = round(x1 - w * mx), round(y1 - h * my)
    kx, ky = w * keep[0], h * keep[1]
    return crop[
        max(0, round(y1 - ky) - top) : max(1, round(y2 + ky) - top),
        max(0, round(x1 - kx) - left) : max(1, round(x2 + kx) - left),
    ]


def vote(reads: list[OcrResult]) -> OcrResult:
    """The text whose readings sum to the most confidence (ties: the earlier view), as its
    most confident reading. Three views that agree at 0.6 outvote one at 0.9."""
    score: dict[str, float] = {}
    for r in reads:
        score[r.text] = score.get(r.text, 0.0) + r.confidence
    text = max(score, key=lambda t: score[t])
    return max((r for r in reads if r.text == text), key=lambda r: r.confidence)


# One source of defaults: a Recognizer() behaves as the daemon's [recognize] section does.
_DEFAULTS = RecognizeConfig()


class Recognizer:
    def __init__(
        self,
        detector: Path | None = None,
        ocr: Path | None = None,
        ocr_config: Path | None = None,
        threads: int = _DEFAULTS.threads,
        detect_threshold: float = _DEFAULTS.detect_threshold,
        min_confidence: float = _DEFAULTS.min_confidence,
        min_chars: int = _DEFAULTS.min_chars,
        deskew_min_deg: float = _DEFAULTS.deskew_min_deg,
        second_reader: bool = _DEFAULTS.second_reader,
        second_below: float = _DEFAULTS.second_below,
        second_weight: float = _DEFAULTS.second_weight,
        state_min_confidence: float = _DEFAULTS.state_min_confidence,
        second_model: Path | None = None,
    ) -> None:
        self.detector = Detector(detector or recognize.DETECTOR, threads, detect_threshold)
        self.ocr = PlateOcr(ocr or recognize.OCR, ocr_config or recognize.OCR_CONFIG, threads)
        self.second = (
            GlobalReader(second_model or recognize.GLOBAL_OCR, threads) if second_reader else None
        )
        self.second_below, self.second_weight = second_below, second_weight
        self.state_min_confidence = state_min_confidence
        self._state: StateReader | None = None
        self.min_confidence = min_confidence
        self.min_chars = min_chars
        self.deskew_min_deg = deskew_min_deg
        self.views = VIEWS

    @property
    def state(self) -> StateReader:
        """The state reader (PaddleOCR's recogniser: state.py), loaded on first use. The
        frame loop never reads the state: the daemon reads it once a pass, on a thread of its
        own (state_worker.py); `alprd recognize` reads it for each plate."""
        if self._state is None:
            self._state = StateReader(None, self.state_min_confidence)
        return self._state

    @classmethod
    def from_config(cls, cfg: RecognizeConfig, bundle: Path | None = None) -> Recognizer:
        """The configured recognizer; bundle: a folder of a model bundle's files (#37), whose
        models replace the configured ones (its second reader too, when it has one)."""
        second = None
        if bundle is not None:
            cfg = cfg.model_copy(
                update={
                    "detector": str(bundle / "detector.tflite"),
                    "ocr": str(bundle / "ocr.tflite"),
                    "ocr_config": str(bundle / "ocr_plate_config.yaml"),
                }
            )
            second = bundle / "global_ocr.onnx" if (bundle / "global_ocr.onnx").exists() else None
        return cls(
            detector=Path(cfg.detector) if cfg.detector else None,
            ocr=Path(cfg.ocr) if cfg.ocr else None,
            ocr_config=Path(cfg.ocr_config) if cfg.ocr_config else None,
            threads=cfg.threads,
            detect_threshold=cfg.detect_threshold,
            min_confidence=cfg.min_confidence,
            min_chars=cfg.min_chars,
            deskew_min_deg=cfg.deskew_min_deg,
            second_reader=cfg.second_reader,
            second_below=cfg.second_below,
            second_weight=cfg.second_weight,
            state_min_confidence=cfg.state_min_confidence,
            second_model=second,
        )

    def take_state_reader(self, other: Recognizer) -> None:
        """Use other's state reader (loaded, or not yet): it is not part of a model bundle."""
        self._state = other._state

    def __call__(
        self, image: np.ndarray, detect_image: np.ndarray | None = None
    ) -> list[tuple[PlateRead, np.ndarray]]:
        """Plates in a BGR frame, best first, each with its crop from the full-resolution image.

        detect_image, where given, is a low-resolution copy of the same frame to detect on.
        """
        image = as_bgr8(image)  # FrameRefused (a ValueError) for what is no picture
        src = image if detect_image is None else as_bgr8(detect_image)
        return self.read(
            image, self.detector(src), image.shape[1] / src.shape[1], image.shape[0] / src.shape[0]
        )

    def read(
        self, image: np.ndarray, dets: list[Detection], sx: float = 1.0, sy: float = 1.0
    ) -> list[tuple[PlateRead, np.ndarray]]:
        """Read the plates of detections (in pixels of image, scaled by sx, sy), best first,
        dropping reads under min_chars or min_confidence. The state is not read here
        (state())."""
        out = []
        for d in dets:
            x1, y1, x2, y2 = d.bbox
            box = (int(x1 * sx), int(y1 * sy), int(round(x2 * sx)), int(round(y2 * sy)))
            if box[3] - box[1] < 3 or box[2] - box[0] < 6:
                continue
            # a box that one view cannot read is not worth five more
            first = self.ocr([crop_plate(image, box, *self.views[0])])[0]
            screen = self.min_confidence if d.score < FAINT_SCORE else SCREEN_CONFIDENCE
            if first.confidence < screen:
                continue
            res, crop = self.read_box(image, box, first)
            if len(res.text) < self.min_chars or res.confidence < self.min_confidence:
                continue
            out.append(
                (
                    PlateRead(
                        res.text,
                        round(res.confidence, 4),
                        tuple(round(c, 4) for c in res.char_confidences),
                        box,
                        round(d.score, 4),
                        res.candidates,
                    ),
                    crop,
                )
            )
        out.sort(key=lambda pc: -(pc[0].confidence * pc[0].detector_score))
        return out

    def read_box(
        self, image: np.ndarray, box: Sequence[float], first: OcrResult | None = None
    ) -> tuple[OcrResult, np.ndarray]:
        """Read the plate in box (image pixels) at each of VIEWS and let them vote; the
        winning text's most confident reading, with the crop to store (as the camera saw it).
        Where that reading's confidence is under second_below (and not under SECOND_FLOOR),
        the second reader's reading of the plate is combined with it (second.combine). The
        result's `candidates` are the plate's most probable texts over every reading, the
        second reader's included (nbest.mixture): the hotlist matches them too. A reading
        under min_chars or min_confidence gets none (read() drops it).

        A plate tilted by deskew_min_deg or more is levelled first (rectify.py). first, where
        given, is the reading of the first view of the image as it is (the screen
        made it); it is not read again unless the plate was levelled."""
        stored = crop_plate(image, box)
        src, src_box = image, box
        if self.deskew_min_deg > 0:
            angle = skew_angle(stored)
            if abs(angle) >= self.deskew_min_deg:
                src, src_box = level(image, box, angle)
                first = None
        views = self.views if first is None else self.views[1:]
        reads = self.ocr([crop_plate(src, src_box, mx, my) for mx, my in views])
        reads = reads if first is None else [first] + reads
        res = vote(reads)
        cfg = self.ocr.cfg
        readings = [(r.probs, cfg.alphabet, cfg.pad_char, r.confidence) for r in reads]
        if self.second is not None and SECOND_FLOOR <= res.confidence < self.second_below:
            theirs = self.second([crop_plate(src, src_box, *SECOND_VIEW)])[0]
            res = combine(res, theirs, self.second_weight)
            readings.append((theirs.probs, second.ALPHABET, second.PAD, theirs.confidence))
        if len(res.text) < self.min_chars or res.confidence < self.min_confidence:
            return res, stored  # dropped by read(): its candidates are never asked for
        texts = [(nbest.strings(p, al, pad), c) for p, al, pad, c in readings if p is not None]
        cands = nbest.mixture([t for t, _ in texts], [c**nbest.WEIGHT_POWER for _, c in texts])
        return replace(res, candidates=cands), stored

    def recognize_file(self, path: Path) -> dict[str, Any]:
        img = cv2.imread(str(path))
        if img is None:
            raise ValueError(f"cannot read image {path}")
        t0 = time.monotonic()
        plates = self(img)
        ms = (time.monotonic() - t0) * 1000
        out, t0 = [], time.monotonic()
        for p, crop in plates:  # the daemon reads it once a pass, beside the frame loop
            state, state_conf = self.state(plate_box(crop, p.bbox, BOX_MARGIN))
            out.append(
                {
                    "text": p.text,
                    "confidence": p.confidence,
                    "bbox": list(p.bbox),
                    "state": state,
                    "state_confidence": state_conf,
                }
            )
        return {
            "image": str(path),
            "ms": round(ms, 1),
            "state_ms": round((time.monotonic() - t0) * 1000, 1),
            "plates": out,
        }


# the self-test's reference plate (a picture and its text): a recognizer must read it
REFERENCE = Path(__file__).resolve().parent.parent / "selftest" / "reference"


def reads_reference(rec: Recognizer) -> tuple[str, list[str]]:
    """(the reference plate's text, what rec reads on its picture): the self-test's check,
    and a new model bundle's before it is used."""
    import json

    known = str(json.loads((REFERENCE / "plate.json").read_text())["text"])
    frame = cv2.imread(str(REFERENCE / "plate.jpg"))
    return known, [p.text for p, _ in rec(frame)] if frame is not None else []
