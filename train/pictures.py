"""Pictures on a plate that are never characters: symbols in the characters' ink set in a
character's slot (a wheelchair, a cactus), and state pictures in the gap between character
groups (Florida's oranges, Oregon's fir, Wyoming's horse and rider). train/synth.py sets the
characters and says where these go; the OCR must learn to skip them. And the printed
background art behind them (backdrop_art).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

# the registration's inks (synth sets the characters in them; the rider takes the darkest)
INK_COLOURS = ((20, 20, 20), (15, 30, 110), (120, 10, 20), (10, 60, 20), (40, 40, 60))


@dataclass(frozen=True)
class Blank:
    """A space in the registration as stamped (where a state puts its emblem): its centre
    x, its width (with the pitch gap), the top of the characters beside it and the size
    of their font (their capitals are about 0.7 of it)."""

    cx: int
    width: int
    top: int
    height: int


def pictogram(draw, rng: random.Random, x: int, top: int, w: int, h: int, ink) -> None:
    """A symbol as tall as the characters, in their ink: the disabled-driver wheelchair
    (Iowa, Idaho), Arizona's cactus, a tree, a star or a heart. The OCR read these as a
    6, an E or an I in front of the registration."""
    kind = rng.choice(("wheelchair", "cactus", "tree", "star", "heart"))
    lw = max(2, h // 9)
    cx, x1, y1 = x + w // 2, x + w, top + h
    if kind == "wheelchair":
        r = int(min(w, h) * 0.38)
        draw.arc([cx - r, y1 - 2 * r, cx + r, y1], 0, 360, fill=ink, width=lw)
        draw.ellipse([cx - lw * 2, top, cx + lw, top + lw * 3], fill=ink)
        draw.line(
            [(cx - lw, top + lw * 3), (cx - lw, y1 - r), (x1, y1 - r // 2)], fill=ink, width=lw
        )
    elif kind == "cactus":
        draw.line([(cx, top), (cx, y1)], fill=ink, width=lw * 2)
        arm = h // 3
        draw.line([(x, top + arm), (x, top + 2 * arm), (cx, top + 2 * arm)], fill=ink, width=lw)
        draw.line(
            [(x1, top + arm // 2), (x1, top + arm + arm // 2), (cx, top + arm + arm // 2)],
            fill=ink,
            width=lw,
        )
    elif kind == "tree":
        for k in range(rng.randint(2, 3)):
            yt = top + k * h // 4
            draw.polygon([(cx, yt), (x1, yt + h // 2), (x, yt + h // 2)], fill=ink)
        draw.rectangle([cx - lw, y1 - h // 5, cx + lw, y1], fill=ink)
    elif kind == "star":
        r = min(w, h) // 2
        pts = [
            (
                cx + (r if i % 2 == 0 else r * 0.4) * np.sin(np.pi * i / 5),
                top + h // 2 - (r if i % 2 == 0 else r * 0.4) * np.cos(np.pi * i / 5),
            )
            for i in range(10)
        ]
        draw.polygon(pts, fill=ink)
    else:
        r = w // 4
        yc = top + h // 3
        draw.ellipse([cx - 2 * r, yc - r, cx, yc + r], fill=ink)
        draw.ellipse([cx, yc - r, cx + 2 * r, yc + r], fill=ink)
        draw.polygon(
            [(cx - 2 * r, yc + 2), (cx + 2 * r, yc + 2), (cx, yc + 2 * r + h // 4)], fill=ink
        )


EMBLEM_COLOURS = (
    (230, 120, 20),
    (200, 40, 30),
    (40, 120, 50),
    (30, 60, 150),
    (200, 170, 40),
    (120, 120, 120),
    (20, 20, 20),
    (150, 40, 120),
)


GAP_EMBLEMS = ("fruit", "rose", "shield", "outline", "photo", "fir", "zia", "rider")


def _polygon_ellipse(
    cx: float, cy: float, rx: float, ry: float, angle: float, n: int = 16
) -> list[tuple[float, float]]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ca, sa = np.cos(angle), np.sin(angle)
    return [
        (
            cx + rx * np.cos(a) * ca - ry * np.sin(a) * sa,
            cy + rx * np.cos(a) * sa + ry * np.sin(a) * ca,
        )
        for a in t
    ]


def _rider(draw, rng: random.Random, x0: int, y0: int, w: int, h: int, colour) -> None:
    """A bucking horse and its rider in one dark colour (Wyoming), facing either way: a
    silhouette about twice a character's width, taller than the characters."""
    flip = rng.random() < 0.5

    def pt(fx: float, fy: float) -> tuple[float, float]:
        return (x0 + (1 - fx if flip else fx) * w, y0 + fy * h)

    lw = max(3, int(w * rng.uniform(0.07, 0.1)))
    tilt = rng.uniform(0.1, 0.6) * (-1 if flip else 1)  # rearing: its front up
    bx, by = pt(rng.uniform(0.45, 0.55), rng.uniform(0.5, 0.6))
    draw.polygon(_polygon_ellipse(bx, by, w * 0.32, h * 0.17, tilt), fill=colour)  # body
    neck, head = pt(0.22, 0.4), pt(rng.uniform(0.05, 0.15), rng.uniform(0.25, 0.45))
    draw.line([pt(0.35, 0.5), neck, head], fill=colour, width=int(lw * 2.5))
    for fx, fy in ((0.65, 1.0), (0.8, rng.uniform(0.8, 1.0))):  # hind legs kick or stand
        draw.line([pt(0.65, 0.6), pt(fx, fy)], fill=colour, width=lw)
    knee = pt(rng.uniform(0.15, 0.3), rng.uniform(0.65, 0.8))
    draw.line(
        [pt(0.35, 0.62), knee, pt(rng.uniform(0.1, 0.3), rng.uniform(0.8, 0.95))],
        fill=colour,
        width=lw,
    )
    draw.line(
        [pt(0.8, 0.5), pt(rng.uniform(0.9, 1.0), rng.uniform(0.35, 0.7))], fill=colour, width=lw
    )  # tail
    seat, shoulder = pt(0.5, 0.42), pt(rng.uniform(0.45, 0.6), 0.15)
    draw.line([seat, shoulder], fill=colour, width=int(lw * 2.2))  # the rider's back
    draw.line(
        [shoulder, pt(rng.uniform(0.6, 0.85), rng.uniform(0.0, 0.15))], fill=colour, width=lw
    )  # an arm with the hat
    hx, hy = shoulder
    r = max(2, int(h * 0.06))
    draw.ellipse([hx - r, hy - 3 * r, hx + r, hy - r], fill=colour)
    draw.rectangle([hx - 2.2 * r, hy - 1.6 * r, hx + 2.2 * r, hy - 1.1 * r], fill=colour)


def gap_emblem(
    img: Image.Image, draw, rng: random.Random, blank: Blank, backdrops, kind: str | None = None
) -> None:
    """A state's picture in the gap between the character groups, about as tall as the
    characters and as wide as the gap or wider: oranges (Florida), a compass rose
    (Louisiana), a quartered shield (Maryland), a state outline (Texas, Ohio), a patch of a
    photo, Oregon's green fir, New Mexico's zia sun, Wyoming's horse and rider. Never a
    character; the OCR must learn to skip it (interim-6 read Oregon's SKT 517 as SKT5577
    and Wyoming's 4 779 as 47779)."""
    h = int(blank.height * rng.uniform(0.45, 1.0))
    w = int(max(blank.width * rng.uniform(0.7, 1.3), h * 0.6))
    if kind in ("fir", "rider"):  # as tall as the characters or taller
        h = int(blank.height * rng.uniform(0.8, 1.1))
    if kind == "fir":
        w = int(h * rng.uniform(0.4, 0.6))
    cx, cy = blank.cx, blank.top + blank.height // 2 + rng.randint(-6, 6)
    x0, y0, x1, y1 = cx - w // 2, cy - h // 2, cx + w // 2, cy + h // 2
    colour = rng.choice(EMBLEM_COLOURS)
    if kind is None:
        kind = rng.choice(GAP_EMBLEMS[:-1])  # the rider comes with Wyoming's layout
    if kind == "photo" and not backdrops:
        kind = "fruit"
    if kind == "fir":
        green = (rng.randint(10, 60), rng.randint(90, 150), rng.randint(40, 90))
        draw.rectangle(
            [cx - max(1, w // 12), y1 - h // 6, cx + max(1, w // 12), y1], fill=(90, 60, 30)
        )
        tiers = rng.randint(4, 7)
        for k in range(tiers):  # tiers widening downwards, each a jagged triangle
            yt, yb = y0 + k * h * 0.8 / tiers, y0 + (k + 1.6) * h * 0.8 / tiers
            half = w / 2 * (k + 1) / tiers
            draw.polygon(
                [
                    (cx, yt),
                    (cx + half, yb),
                    (cx + half * 0.5, yb - 2),
                    (cx, yb + 1),
                    (cx - half * 0.5, yb - 2),
                    (cx - half, yb),
                ],
                fill=green,
            )
    elif kind == "zia":
        r = min(w, h) * 0.2
        sun = rng.choice(((200, 30, 30), (220, 90, 20)))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=sun)
        ray = min(w, h) * rng.uniform(0.25, 0.3)
        lw = max(1, int(r / 4))
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            for k in (-1.5, -0.5, 0.5, 1.5):
                off = k * lw * 2
                sx, sy = cx + dx * r * 1.2 + dy * off, cy + dy * r * 1.2 + dx * off
                length = ray * (0.8 if abs(k) > 1 else 1.0)
                draw.line([(sx, sy), (sx + dx * length, sy + dy * length)], fill=sun, width=lw)
    elif kind == "rider":
        _rider(draw, rng, x0, y0, w, h, rng.choice(INK_COLOURS[:2] + ((25, 25, 80),)))
    elif kind == "fruit":
        for _ in range(rng.randint(1, 3)):
            r = rng.randint(max(4, h // 5), max(5, h // 3))
            fx = rng.randint(x0 + r // 2, max(x0 + r // 2, x1 - r // 2))
            fy = rng.randint(y0 + r // 2, max(y0 + r // 2, y1 - r // 2))  # within the gap
            draw.ellipse([fx - r, fy - r, fx + r, fy + r], fill=colour)
        for _ in range(rng.randint(0, 3)):  # leaves and a blossom
            lx, ly = rng.randint(x0, x1), rng.randint(y0, cy)
            draw.ellipse([lx - 8, ly - 4, lx + 8, ly + 4], fill=rng.choice(EMBLEM_COLOURS))
    elif kind == "rose":
        n, r = rng.choice((4, 5, 8)), min(w, h) // 2
        pts = []
        for i in range(2 * n):
            a = np.pi * i / n
            rad = r if i % 2 == 0 else r * rng.uniform(0.25, 0.45)
            pts.append((cx + rad * np.sin(a), cy - rad * np.cos(a)))
        draw.polygon(pts, fill=colour)
        if rng.random() < 0.6:
            draw.ellipse(
                [cx - r // 2, cy - r // 2, cx + r // 2, cy + r // 2],
                outline=rng.choice(EMBLEM_COLOURS),
                width=2,
            )
    elif kind == "shield":
        a, b = rng.sample(EMBLEM_COLOURS, 2)
        draw.rectangle([x0, y0, cx, cy], fill=a)
        draw.rectangle([cx, cy, x1, y1], fill=a)
        draw.rectangle([cx, y0, x1, cy], fill=b)
        draw.rectangle([x0, cy, cx, y1], fill=b)
    elif kind == "outline":
        k = rng.randint(6, 11)
        pts = [
            (
                cx + (w / 2) * rng.uniform(0.5, 1.0) * np.cos(2 * np.pi * i / k),
                cy + (h / 2) * rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * i / k),
            )
            for i in range(k)
        ]
        if rng.random() < 0.5:
            draw.polygon(pts, fill=colour)
        else:
            draw.polygon(pts, outline=colour, width=rng.randint(2, 4))
    else:
        src = rng.choice(backdrops)
        ph, pw = min(src.shape[0], rng.randint(20, 200)), min(src.shape[1], rng.randint(20, 200))
        y, x = rng.randint(0, src.shape[0] - ph), rng.randint(0, src.shape[1] - pw)
        patch = cv2.resize(src[y : y + ph, x : x + pw], (max(1, x1 - x0), max(1, y1 - y0)))
        img.paste(Image.fromarray(patch), (x0, y0))  # backdrops are RGB


def backdrop_art(
    rng: random.Random, bg: tuple, backdrops: list[np.ndarray] | None, plate_w: int, plate_h: int
) -> Image.Image:
    """A plate's printed background art, plate_w x plate_h: a colour gradient, and often a
    faded photo patch (mountains, flags, skylines on real plates), kept light so the
    characters stay dark."""
    top = np.array([rng.randint(150, 255) for _ in range(3)], np.float32)
    bottom = np.array(bg, np.float32)
    t = np.linspace(0, 1, plate_h, dtype=np.float32)[:, None, None]
    if rng.random() < 0.5:
        t = np.clip((t - rng.uniform(0.0, 0.5)) * rng.uniform(1.5, 4.0), 0, 1)
    art = top * (1 - t) + bottom * t * np.ones((plate_h, plate_w, 1), np.float32)
    if backdrops and rng.random() < 0.7:
        src = rng.choice(backdrops)
        sh, sw = src.shape[:2]
        ph, pw = min(sh, rng.randint(60, 400)), min(sw, rng.randint(120, 800))
        y, x = rng.randint(0, sh - ph), rng.randint(0, sw - pw)
        patch = cv2.resize(src[y : y + ph, x : x + pw], (plate_w, plate_h)).astype(np.float32)
        patch = 255 - (255 - patch) * rng.uniform(0.25, 0.6)  # faded print
        mask = np.ones((plate_h, plate_w, 1), np.float32) * rng.uniform(0.4, 1.0)
        if rng.random() < 0.5:  # art in one region only (a left emblem, a lower band)
            region = np.zeros((plate_h, plate_w), np.float32)
            if rng.random() < 0.5:
                region[:, : rng.randint(60, 160)] = 1
            else:
                region[rng.randint(70, 130) :, :] = 1
            mask = mask * cv2.GaussianBlur(region, (0, 0), 6)[..., None]
        art = art * (1 - mask) + patch * mask
    return Image.fromarray(np.clip(art, 0, 255).astype(np.uint8))
