"""Plate OCR: a fast-plate-ocr model run on LiteRT, with its own pre- and post-processing.

fast-plate-ocr's own recognizer imports onnxruntime eagerly; the appliance needs only the
plate config (YAML) and the exported .tflite, so the few steps are done here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from alprd.recognize.runtime import ModelError, TFLiteModel

_INTERP = {
    "linear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "cubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
    "lanczos4": cv2.INTER_LANCZOS4,
}


@dataclass(frozen=True)
class PlateConfig:
    max_plate_slots: int
    alphabet: str
    pad_char: str
    img_height: int
    img_width: int
    keep_aspect_ratio: bool = False
    interpolation: str = "linear"
    image_color_mode: str = "grayscale"
    padding_color: int | tuple[int, int, int] = 114

    @classmethod
    def from_yaml(cls, path: Path) -> "PlateConfig":
        import yaml  # a dependency of fast-plate-ocr

        try:
            data = yaml.safe_load(Path(path).read_text())
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            if isinstance(known.get("padding_color"), list):
                known["padding_color"] = tuple(known["padding_color"])
            return cls(**known)
        except (OSError, TypeError, AttributeError, yaml.YAMLError) as exc:
            raise ModelError(f"bad OCR plate config {path}: {exc}") from exc


@dataclass(frozen=True)
class OcrResult:
    text: str
    char_confidences: tuple[float, ...]
    # the reading's per-slot probabilities [slots, alphabet] (nbest.strings reads them)
    probs: np.ndarray | None = field(default=None, compare=False, repr=False)
    # the plate's most probable texts with their probabilities (nbest.py), where known
    candidates: tuple[tuple[str, float], ...] = ()

    @property
    def confidence(self) -> float:
        return float(np.mean(self.char_confidences)) if self.char_confidences else 0.0


class PlateOcr:
    def __init__(self, model_path: Path, config_path: Path, threads: int = 1) -> None:
        self.cfg = PlateConfig.from_yaml(config_path)
        self.model = TFLiteModel(model_path, threads)
        channels = 3 if self.cfg.image_color_mode == "rgb" else 1
        want = (self.cfg.img_height, self.cfg.img_width, channels)
        if self.model.input_shape[1:] != want:
            raise ModelError(
                f"{model_path}: input {list(self.model.input_shape)} does not match "
                f"plate config {list(want)}"
            )

    def preprocess(self, crop: np.ndarray) -> np.ndarray:
        c = self.cfg
        if c.image_color_mode == "rgb":
            img = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        else:
            img = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        interp = _INTERP.get(c.interpolation, cv2.INTER_LINEAR)
        if c.keep_aspect_ratio:
            h, w = img.shape[:2]
            s = min(c.img_width / w, c.img_height / h)
            nw, nh = max(1, round(w * s)), max(1, round(h * s))
            small = cv2.resize(img, (nw, nh), interpolation=interp)
            pad = (
                c.padding_color
                if img.ndim == 3
                else (c.padding_color if isinstance(c.padding_color, int) else c.padding_color[0])
            )
            out = np.full((c.img_height, c.img_width) + img.shape[2:], pad, np.uint8)
            y0, x0 = (c.img_height - nh) // 2, (c.img_width - nw) // 2
            out[y0 : y0 + nh, x0 : x0 + nw] = small
            img = out
        else:
            img = cv2.resize(img, (c.img_width, c.img_height), interpolation=interp)
        if img.ndim == 2:
            img = img[..., None]
        return img

    def __call__(self, crops: list[np.ndarray]) -> list[OcrResult]:
        results = []
        for crop in crops:  # the exported model has batch size 1
            x = self.preprocess(crop)[None]
            out = self.model(x)
            probs = max(out, key=lambda o: o.size).reshape(self.cfg.max_plate_slots, -1)
            results.append(self.decode(probs))
        return results

    def decode(self, probs: np.ndarray) -> OcrResult:
        idx = probs.argmax(axis=1)
        conf = probs.max(axis=1)
        chars, confs = [], []
        for i, c in zip(idx, conf):
            ch = self.cfg.alphabet[i]
            if ch == self.cfg.pad_char:
                continue
            chars.append(ch)
            confs.append(float(c))
        return OcrResult("".join(chars), tuple(confs), probs)
