"""Procedural street scenes: the rear of a car with a synthetic plate, on a road.

Made entirely by the project (no photos), so scenes can be committed freely: the bundled demo
clip is rendered from them, and the detector sees some of them beside real Open Images photos.
"""

from __future__ import annotations

import random

import cv2
import numpy as np

from train import camera, synth


def _road(rng: random.Random, h: int, w: int) -> np.ndarray:
    sky = np.array(
        [rng.randint(120, 220), rng.randint(140, 220), rng.randint(170, 240)], np.float32
    )
    road = np.array([rng.randint(60, 110)] * 3, np.float32)
    horizon = int(h * rng.uniform(0.25, 0.4))
    img = np.zeros((h, w, 3), np.float32)
    t = np.linspace(0, 1, horizon)[:, None, None]
    img[:horizon] = sky * (1 - 0.3 * t)
    t = np.linspace(0, 1, h - horizon)[:, None, None]
    img[horizon:] = road * (0.8 + 0.4 * t)
    for _ in range(rng.randint(2, 6)):  # buildings / trees on the horizon
        x = rng.randint(0, w)
        bw, bh = rng.randint(w // 12, w // 4), rng.randint(h // 10, h // 3)
        colour = [rng.randint(30, 160) for _ in range(3)]
        cv2.rectangle(img, (x, horizon - bh), (x + bw, horizon), colour, -1)
    for k in range(6):  # lane markings
        y = horizon + int((h - horizon) * (k + 0.5) / 6)
        cv2.line(
            img,
            (w // 2 - 4 - k * 3, y),
            (w // 2 + 4 + k * 3, y + 10 + k * 4),
            (220, 220, 210),
            2 + k,
        )
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 4, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def draw_car(
    img: np.ndarray,
    rng: random.Random,
    cx: float,
    base_y: float,
    width: float,
    colour,
    plate: np.ndarray,
) -> np.ndarray:
    """Draw the rear of a car centred at cx, bottom at base_y; return the plate quad."""
    w = width
    h = w * 0.75
    x0, x1 = int(cx - w / 2), int(cx + w / 2)
    y1, y0 = int(base_y), int(base_y - h)
    dark = tuple(int(c * 0.5) for c in colour)
    cv2.rectangle(
        img,
        (x0 + int(w * 0.05), y1 - int(h * 0.08)),
        (x0 + int(w * 0.22), y1 + int(h * 0.05)),
        (20, 20, 20),
        -1,
    )  # wheels
    cv2.rectangle(
        img,
        (x1 - int(w * 0.22), y1 - int(h * 0.08)),
        (x1 - int(w * 0.05), y1 + int(h * 0.05)),
        (20, 20, 20),
        -1,
    )
    roof = np.array(
        [
            [x0 + w * 0.18, y0],
            [x1 - w * 0.18, y0],
            [x1 - w * 0.05, y0 + h * 0.4],
            [x0 + w * 0.05, y0 + h * 0.4],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [roof], colour)
    window = np.array(
        [
            [x0 + w * 0.22, y0 + h * 0.06],
            [x1 - w * 0.22, y0 + h * 0.06],
            [x1 - w * 0.1, y0 + h * 0.36],
            [x0 + w * 0.1, y0 + h * 0.36],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [window], (40, 50, 60))
    cv2.rectangle(img, (x0, int(y0 + h * 0.38)), (x1, int(y1 - h * 0.05)), colour, -1)
    cv2.rectangle(img, (x0, int(y1 - h * 0.2)), (x1, int(y1 - h * 0.05)), dark, -1)  # bumper
    for lx in (x0 + int(w * 0.03), x1 - int(w * 0.2)):  # tail lights
        cv2.rectangle(
            img,
            (lx, int(y0 + h * 0.45)),
            (lx + int(w * 0.17), int(y0 + h * 0.58)),
            (200, 30, 30),
            -1,
        )
    pw = w * rng.uniform(0.24, 0.3)
    ph = pw / 2
    pcx, pcy = cx + rng.uniform(-0.03, 0.03) * w, y0 + h * 0.68
    quad = np.float32(
        [
            [pcx - pw / 2, pcy - ph / 2],
            [pcx + pw / 2, pcy - ph / 2],
            [pcx + pw / 2, pcy + ph / 2],
            [pcx - pw / 2, pcy + ph / 2],
        ]
    )
    quad += np.float32(
        [[rng.uniform(-0.03, 0.03) * pw, rng.uniform(-0.03, 0.03) * ph] for _ in range(4)]
    )
    small = cv2.resize(plate, (max(4, int(pw)), max(2, int(ph))), interpolation=cv2.INTER_AREA)
    camera.paste_plate(img, small, quad)
    return quad


def scene(rng: random.Random, h: int = 720, w: int = 1280, n_cars: int | None = None):
    """A random scene; returns (RGB image, list of (quad, text, state))."""
    img = _road(rng, h, w)
    plates = []
    n_cars = n_cars if n_cars is not None else rng.randint(1, 3)
    slots = sorted(rng.sample(range(5), n_cars))
    for s in slots:
        cx = (s + 0.5) / 5 * w + rng.uniform(-0.05, 0.05) * w
        width = rng.uniform(0.12, 0.35) * w
        base = h * rng.uniform(0.6, 0.95)
        plate = synth.render_plate(rng)
        colour = tuple(rng.randint(20, 230) for _ in range(3))
        quad = draw_car(img, rng, cx, base, width, colour, plate.image)
        plates.append((quad, plate.text, plate.state))
    return img, plates
