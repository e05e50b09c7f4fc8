"""Plate detector: letterbox the frame, run the CenterNet-style TFLite model, decode boxes.

The model gives, at stride 8, a centre heat map (sigmoid), box width and height in cells, and
the centre offset within its cell (see train/detector.py): either as one [1, S, S, 5] output,
or as two, [1, S, S, 1] heat and [1, S, S, 4] geometry. Two outputs let an int8 model keep
the heat map at its own scale (one shared int8 scale left it 6 levels, 0.15 apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from alprd.config import RecognizeConfig
from alprd.geometry import iou
from alprd.recognize.runtime import ModelError, TFLiteModel

PAD = 114


@dataclass(frozen=True)
class Detection:
    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    score: float


class Detector:
    def __init__(
        self,
        path: Path,
        threads: int = 1,
        threshold: float = RecognizeConfig().detect_threshold,
        max_plates: int = 8,
    ) -> None:
        self.model = TFLiteModel(path, threads)
        shape = self.model.input_shape
        if len(shape) != 4 or shape[3] != 3:
            raise ModelError(f"{path}: detector input must be [1, H, W, 3], not {list(shape)}")
        self.h, self.w = shape[1], shape[2]
        self.threshold = threshold
        self.max_plates = max_plates

    def letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = image.shape[:2]
        scale = min(self.w / w, self.h / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        out = np.full((self.h, self.w, 3), PAD, np.uint8)
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        out[:nh, :nw] = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
        return out, scale

    def __call__(self, image: np.ndarray) -> list[Detection]:
        """Detect plates in a BGR image; boxes come back in that image's pixels."""
        x, scale = self.letterbox(image)
        outs = self.model(x[None])
        if len(outs) == 1:
            out = outs[0][0]
        else:
            heat = next(o for o in outs if o.shape[-1] == 1)
            geometry = next(o for o in outs if o.shape[-1] == 4)
            out = np.concatenate([heat[0], geometry[0]], axis=-1)
        return self.decode(out, scale, image.shape[1], image.shape[0])

    def decode(self, out: np.ndarray, scale: float, img_w: int, img_h: int) -> list[Detection]:
        heat = out[..., 0]
        stride = self.h / heat.shape[0]
        pooled = cv2.dilate(heat, np.ones((3, 3), np.uint8))
        peaks = np.argwhere((heat >= pooled) & (heat >= self.threshold))
        order = np.argsort(-heat[peaks[:, 0], peaks[:, 1]])[: self.max_plates * 3]
        dets: list[Detection] = []
        for iy, ix in peaks[order]:
            bw, bh, ox, oy = out[iy, ix, 1:5]
            cx, cy = (ix + ox) * stride, (iy + oy) * stride
            bw, bh = max(bw, 0.5) * stride, max(bh, 0.25) * stride
            box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]) / scale
            box = np.clip(box, 0, [img_w, img_h, img_w, img_h])
            if box[2] - box[0] < 4 or box[3] - box[1] < 2:
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            det = Detection((x1, y1, x2, y2), float(heat[iy, ix]))
            if all(iou(det.bbox, d.bbox) < 0.3 for d in dets):
                dets.append(det)
            if len(dets) >= self.max_plates:
                break
        return dets
