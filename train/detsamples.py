"""The detector's training samples (train/detector.py trains on them): Open Images photos of
plates, half of them with their plates covered by synthetic US ones, and procedural scenes
(train/scenes.py); distractors (signs, stickers), low contrast, affine jitter and camera
degradation; the target tensor at stride STRIDE."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cv2
import numpy as np

from train import camera, fonts, scenes, synth

STRIDE = 8


def shared_data() -> Path:
    return Path(os.environ.get("ALPRD_SHARED_DATA", "../shared/data"))


def load_openimages(limit: int | None = None):
    folder = shared_data() / "openimages_plates"
    items = []
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        item = json.loads(line)
        img = cv2.imread(str(folder / item["image"]))
        if img is None:
            continue
        boxes = np.float32([p["bbox"] for p in item["plates"]]).reshape(-1, 4)
        items.append((img[..., ::-1].copy(), boxes))
        if limit and len(items) >= limit:
            break
    return items


def cover_with_synthetic(img: np.ndarray, boxes: np.ndarray, rng: random.Random) -> None:
    for x1, y1, x2, y2 in boxes:
        w, h = x2 - x1, y2 - y1
        if w < 12 or h < 6:
            continue
        plate = synth.render_plate(rng)
        # a US plate is 2:1; fit it into the labelled box, touching its width
        quad = camera.warp_quad(rng, w, h, tilt=0.04) + np.float32([x1, y1])
        camera.paste_plate(img, plate.image, quad)


SIGN_WORDS = (
    "PRIVATE",
    "PROPERTY",
    "TAXI",
    "CAUTION",
    "STOP",
    "FREQUENT STOPS",
    "NO PARKING",
    "EXIT",
    "CHEVROLET",
    "TOYOTA",
    "HONDA",
    "FORD",
    "TITAN",
    "HYBRID",
    "AWD",
    "SPORT",
    "LIMITED",
    "DELIVERY",
    "PLUMBING",
    "CALL NOW",
    "REFERRAL",
    "ONE WAY",
    "SPEED LIMIT 35",
    "SCHOOL BUS",
)


def _free_spot(rng: random.Random, boxes: np.ndarray, w: int, h: int, tw: int, th: int):
    """Top-left corner of a tw x th patch clear of every plate box (with a margin), or None."""
    for _ in range(20):
        x, y = rng.randint(0, max(0, w - tw)), rng.randint(0, max(0, h - th))
        if all(
            x + tw < bx1 - 4 or x > bx2 + 4 or y + th < by1 - 4 or y > by2 + 4
            for bx1, by1, bx2, by2 in boxes
        ):
            return x, y
    return None


def paint_distractors(img: np.ndarray, boxes: np.ndarray, rng: random.Random) -> None:
    """Plate-like things that are not plates, painted clear of the plates (in place):
    a camera's date and time stamp, a sign or badge word, a grille of vertical slots. On
    us_e2e_dev these made most of the detector's false reads (date stamps read as
    14005, drain grates as 11111111, PRIVATE PROPERTY, CHEVROLET)."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = img.shape[:2]
    body, header = fonts.debian()
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    for _ in range(rng.choice((1, 1, 2, 3))):
        kind = rng.random()
        th = int(np.clip(rng.lognormvariate(np.log(max(12, h * 0.04)), 0.4), 8, h // 4))
        if kind < 0.45:  # date / time stamp, light on the picture, often two lines
            stamp = (
                f"{rng.randint(2005, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
            )
            lines = stamp if rng.random() < 0.6 else (" ".join(stamp),)
            font = ImageFont.truetype(rng.choice(body), th)
            tw = max(int(font.getlength(t)) for t in lines) + 4
            spot = _free_spot(rng, boxes, w, h, tw, th * len(lines) + 6)
            if spot is None:
                continue
            ink = rng.choice(((255, 255, 255), (255, 255, 0), (240, 240, 240), (255, 160, 0)))
            for i, t in enumerate(lines):
                draw.text(
                    (spot[0], spot[1] + i * (th + 3)),
                    t,
                    font=font,
                    fill=ink,
                    stroke_width=rng.choice((0, 1, 2)),
                    stroke_fill=(0, 0, 0),
                )
        elif kind < 0.8:  # a word on a sign or a badge
            word = rng.choice(SIGN_WORDS)
            font = ImageFont.truetype(rng.choice(body + header), th)
            tw = int(font.getlength(word)) + 2 * (th // 3)
            spot = _free_spot(rng, boxes, w, h, tw, int(th * 1.6))
            if spot is None:
                continue
            bg = tuple(rng.randint(0, 255) for _ in range(3))
            ink = (
                tuple(255 - c for c in bg)
                if rng.random() < 0.7
                else tuple(rng.randint(0, 255) for _ in range(3))
            )
            if rng.random() < 0.6:
                draw.rectangle([spot[0], spot[1], spot[0] + tw, spot[1] + int(th * 1.6)], fill=bg)
            draw.text((spot[0] + th // 3, spot[1] + th // 5), word, font=font, fill=ink)
        else:  # a grille or drain: a row of dark vertical slots
            tw = int(th * rng.uniform(2.0, 5.0))
            spot = _free_spot(rng, boxes, w, h, tw, th)
            if spot is None:
                continue
            x0, y0 = spot
            shade = rng.randint(0, 80)
            n = rng.randint(6, 16)
            for k in range(n):
                x = x0 + int(k * tw / n)
                draw.rectangle(
                    [x, y0, x + max(1, tw // (n * 2)), y0 + th], fill=(shade, shade, shade)
                )
    img[:] = np.asarray(pil)


def low_contrast(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Dusk or a dim street light: contrast squeezed to a quarter to a half, darker."""
    k = rng.uniform(0.25, 0.5)
    f = img.astype(np.float32)
    out = (f - f.mean()) * k + f.mean() * rng.uniform(0.3, 0.8)
    return np.clip(out, 0, 255).astype(np.uint8)


def random_affine(
    img: np.ndarray,
    boxes: np.ndarray,
    size: int,
    rng: random.Random,
    scales: tuple[float, float] = (0.7, 2.5),
):
    """Scale (log-uniform in scales, relative to fitting the photo), shift and flip."""
    h, w = img.shape[:2]
    fit = size / max(h, w)
    s = fit * float(np.exp(rng.uniform(np.log(scales[0]), np.log(scales[1]))))
    tx = rng.uniform(min(0, size - w * s), max(0, size - w * s))
    ty = rng.uniform(min(0, size - h * s), max(0, size - h * s))
    m = np.float32([[s, 0, tx], [0, s, ty]])
    out = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=(114, 114, 114))
    b = boxes * s + np.float32([tx, ty, tx, ty])
    b = np.clip(b, 0, size)
    keep = ((b[:, 2] - b[:, 0]) >= 3) & ((b[:, 3] - b[:, 1]) >= 2)
    if rng.random() < 0.5:
        out = out[:, ::-1].copy()
        b = b[:, [2, 1, 0, 3]] * np.float32([-1, 1, -1, 1]) + np.float32([size, 0, size, 0])
    return out, b[keep]


def make_target(boxes: np.ndarray, size: int) -> np.ndarray:
    g = size // STRIDE
    target = np.zeros((g, g, 6), np.float32)  # heat, w, h, off_x, off_y, mask
    yy, xx = np.mgrid[0:g, 0:g]
    for x1, y1, x2, y2 in boxes:
        cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
        bw, bh = (x2 - x1) / STRIDE, (y2 - y1) / STRIDE
        ix, iy = min(int(cx), g - 1), min(int(cy), g - 1)
        sigma = max(0.5, 0.15 * (bw + bh))
        heat = np.exp(-((xx - cx + 0.5) ** 2 + (yy - cy + 0.5) ** 2) / (2 * sigma * sigma))
        target[..., 0] = np.maximum(target[..., 0], heat)
        target[iy, ix, 0] = 1.0
        target[iy, ix, 1:6] = (bw, bh, cx - ix, cy - iy, 1.0)
    return target


def sample(
    items,
    rng: random.Random,
    size: int,
    p_scene: float,
    scales: tuple[float, float] = (0.7, 2.5),
    p_distract: float = 0.0,
    p_dim: float = 0.0,
):
    if rng.random() < p_scene:
        img, plates = scenes.scene(rng, h=rng.choice((480, 720)), w=rng.choice((854, 1280)))
        boxes = np.float32(
            [[q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()] for q, _, _ in plates]
        )
    else:
        img, boxes = items[rng.randrange(len(items))]
        img = img.copy()
        if rng.random() < 0.5:
            cover_with_synthetic(img, boxes, rng)
    if p_distract and rng.random() < p_distract:
        paint_distractors(img, boxes, rng)
    img, boxes = random_affine(img, boxes, size, rng, scales)
    if p_dim and rng.random() < p_dim:
        img = low_contrast(img, rng)
    if rng.random() < 0.5:
        img = camera.degrade(img, rng, strength=0.5)
    return img, make_target(boxes, size)
