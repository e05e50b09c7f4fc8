"""Deskew: level a plate that sits tilted in its box before the OCR reads it.

A plate on a car that is turning, parked on a slope, or mounted crooked reaches the camera
rotated by a few degrees; its detector box is axis-aligned. The angle is the one that makes
the rows of the plate's horizontal edges (the character tops and bottoms, the plate's own
top and bottom) sharpest: the rotated edge map's row profile then has the largest jumps.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

MAX_DEG = 15.0
STEP_DEG = 1.0
_H = 48  # the angle is searched on a copy this many pixels high


def skew_angle(crop: np.ndarray, max_deg: float = MAX_DEG, step: float = STEP_DEG) -> float:
    """Degrees to rotate crop (counter-clockwise, OpenCV's sense) so its text runs level."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    h, w = grey.shape[:2]
    if h < 4 or w < 8:
        return 0.0
    small = cv2.resize(grey, (max(8, round(w * _H / h)), _H), interpolation=cv2.INTER_AREA)
    edges = np.abs(cv2.Sobel(small.astype(np.float32), cv2.CV_32F, 0, 1, ksize=3))
    sh, sw = edges.shape
    best, best_angle = -1.0, 0.0
    for angle in np.arange(-max_deg, max_deg + 1e-6, step):
        m = cv2.getRotationMatrix2D((sw / 2, sh / 2), float(angle), 1.0)
        rows = cv2.warpAffine(edges, m, (sw, sh), flags=cv2.INTER_LINEAR).sum(axis=1)
        score = float(np.square(np.diff(rows)).sum())
        # ties (a flat crop scores the same at every angle) keep the smaller rotation
        if score > best * (1 + 1e-6) or (score >= best and abs(angle) < abs(best_angle)):
            best, best_angle = score, float(angle)
    return best_angle


def region(image: np.ndarray, xa: int, ya: int, xb: int, yb: int) -> np.ndarray:
    """The pixels of [xa, xb) x [ya, yb); where that runs past the image, the edge repeats."""
    h, w = image.shape[:2]
    crop = image[max(0, ya) : min(h, yb), max(0, xa) : min(w, xb)]
    pad = (max(0, -ya), max(0, yb - h), max(0, -xa), max(0, xb - w))
    if crop.size and any(pad):
        crop = cv2.copyMakeBorder(crop, *pad, cv2.BORDER_REPLICATE)
    return crop


def level(
    image: np.ndarray, box: Sequence[float], angle: float, pad: tuple[float, float] = (0.5, 1.0)
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The neighbourhood of box rotated by angle about the box's centre, and the box's place
    in it (same size). Pixels beyond the image's edge repeat the edge."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    px, py = w * pad[0], h * pad[1]
    xa, ya = round(x1 - px), round(y1 - py)
    patch = region(image, xa, ya, round(x2 + px), round(y2 + py))
    cx, cy = (x1 + x2) / 2 - xa, (y1 + y2) / 2 - ya
    m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    rotated = cv2.warpAffine(
        patch,
        m,
        (patch.shape[1], patch.shape[0]),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return rotated, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
