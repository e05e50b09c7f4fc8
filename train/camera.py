"""The camera's side of a synthetic plate: perspective, pasting into a photo, blur, light,
noise and JPEG, and the OCR training crop a detector box would give (train/synth.py renders
the flat plate)."""

from __future__ import annotations

import random

import cv2
import numpy as np

from train.plate_text import repeated_text
from train.synth import PLATE_H, PLATE_W, render_plate


def degrade(img: np.ndarray, rng: random.Random, strength: float = 1.0) -> np.ndarray:
    """Camera effects on an RGB image: blur, low light, IR grey, glare, noise, JPEG."""
    out = img.astype(np.float32)
    if rng.random() < 0.25 * strength:  # motion blur
        k = rng.randint(3, 5)
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(-30, 30), 1)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        kernel /= max(kernel.sum(), 1e-6)
        out = cv2.filter2D(out, -1, kernel)
    if rng.random() < 0.2 * strength:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.0))
    if rng.random() < 0.15 * strength:  # glare
        h, w = out.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.2, 0.6) * w
        g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)) * rng.uniform(30, 100)
        out = out + g[..., None]
    gamma = rng.uniform(0.7, 1.4)
    out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma
    out = out * rng.uniform(0.6, 1.1) + rng.uniform(-20, 20)
    out = out * np.array([rng.uniform(0.92, 1.08) for _ in range(3)], np.float32)
    if rng.random() < 0.2 * strength:  # night / IR: grey, high contrast
        grey = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        out = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    out = out + np.random.default_rng(rng.randint(0, 2**31)).normal(
        0, rng.uniform(0, 8) * strength, out.shape
    )
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        q = rng.randint(40, 92)
        ok, enc = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        out = cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1]
    return out


def warp_quad(rng: random.Random, w: int, h: int, tilt: float = 0.12) -> np.ndarray:
    """A perspective quadrilateral for a w x h plate: rotation, skew and foreshortening."""
    quad = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = np.float32(
        [[rng.uniform(-tilt, tilt) * w, rng.uniform(-tilt, tilt) * h] for _ in range(4)]
    )
    angle = np.deg2rad(rng.uniform(-10, 10))
    rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.float32([w / 2, h / 2])
    return ((quad + jitter - centre) @ rot.T + centre).astype(np.float32)


def paste_plate(scene: np.ndarray, plate: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Warp plate (RGB) onto scene (RGB, in place) at quad (4x2, scene pixels)."""
    ph, pw = plate.shape[:2]
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    m = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    h, w = scene.shape[:2]
    warped = cv2.warpPerspective(plate, m, (w, h), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), m, (w, h))
    mask = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[..., None] / 255.0
    scene[:] = (scene * (1 - mask) + warped * mask).astype(np.uint8)
    return scene


def random_background(rng: random.Random, h: int, w: int) -> np.ndarray:
    """A car-body-like background: a colour, a gradient and texture."""
    colour = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
    grad = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0), h, dtype=np.float32)
    img = colour[None, None, :] * grad[:, None, None] * np.ones((h, w, 1), np.float32)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(2, 20), (h, w, 1))
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def ocr_crop(
    rng: random.Random,
    backgrounds: list[np.ndarray] | None = None,
    text: str | None = None,
    p_two_line: float = 0.05,
    median_h: float = 44,
    max_h: int = 110,
) -> tuple[np.ndarray, str, str]:
    """One training crop as a detector box would give it: margins from none (the plate's own
    edge, or a little inside it) to loose, tilt, low resolution or a clean close-up.
    A quarter of the random texts repeat a character (repeated_text)."""
    if text is None and rng.random() < 0.25:
        text = repeated_text(rng)
    plate = render_plate(rng, text=text, rich=True, backdrops=backgrounds, p_two_line=p_two_line)
    scale = rng.uniform(0.35, 0.6)
    pw, ph = int(PLATE_W * scale), int(PLATE_H * scale)
    if rng.random() < 0.35:  # tight: the box is the plate's edge
        margin_x, margin_y = int(pw * rng.uniform(0.0, 0.05)), int(ph * rng.uniform(0.0, 0.08))
    else:
        margin_x, margin_y = int(pw * rng.uniform(0.05, 0.3)), int(ph * rng.uniform(0.05, 0.45))
    cw, ch = pw + 2 * margin_x, ph + 2 * margin_y
    if backgrounds and rng.random() < 0.6:
        bg = rng.choice(backgrounds)
        y = rng.randint(0, max(0, bg.shape[0] - ch))
        x = rng.randint(0, max(0, bg.shape[1] - cw))
        canvas = cv2.resize(bg[y : y + ch, x : x + cw], (cw, ch))
    else:
        canvas = random_background(rng, ch, cw)
    small = cv2.resize(plate.image, (pw, ph), interpolation=cv2.INTER_AREA)
    quad = warp_quad(rng, pw, ph, tilt=0.06) + np.float32([margin_x, margin_y])
    paste_plate(canvas, small, quad)
    # crop with uneven margins, as a detector box would
    x0 = rng.randint(0, margin_x // 2 + 1)
    y0 = rng.randint(0, margin_y // 2 + 1)
    x1 = cw - rng.randint(0, margin_x // 2 + 1)
    y1 = ch - rng.randint(0, margin_y // 2 + 1)
    if margin_x < pw * 0.05 and rng.random() < 0.5:  # a box a little inside the plate
        x0 += rng.randint(0, int(pw * 0.03) + 1)
        x1 -= rng.randint(0, int(pw * 0.03) + 1)
        y0 += rng.randint(0, int(ph * 0.06) + 1)
        y1 -= rng.randint(0, int(ph * 0.06) + 1)
    crop = canvas[y0:y1, x0:x1]
    target_h = int(np.clip(rng.lognormvariate(np.log(median_h), 0.4), 18, max_h))
    factor = target_h / crop.shape[0]
    if factor < 1:
        crop = cv2.resize(
            crop, (max(8, int(crop.shape[1] * factor)), target_h), interpolation=cv2.INTER_AREA
        )
    crop = degrade(crop, rng, strength=0.3 if rng.random() < 0.25 else 1.0)
    return crop, plate.text, plate.state
