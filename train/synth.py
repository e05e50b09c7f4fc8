"""Synthetic US licence plates: the flat plate as printed (train/camera.py photographs it).

Everything here is made by the project from fonts shipped by Debian and, for OCR crops, the
OFL fonts train/fonts.py fetches (licences in train/MODEL_CARD.md). One generator serves
three uses: OCR training crops, plates pasted into real scenes for the detector, and the
bundled demo clip.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from train import fonts, pictures, states
from train.pictures import INK_COLOURS, Blank
from train.plate_text import DIGITS, LETTERS, random_text
from train.states import STATES

PLATE_W, PLATE_H = 360, 180  # a 12 x 6 inch US plate at 30 px per inch


@functools.lru_cache(maxsize=1)
def plate_fonts() -> list[str]:
    """The condensed plate-like fonts fetched by `python -m train.fonts` (none before); the
    OCR crops (rich plates) are set in one of them a little over half the time."""
    return fonts.installed()


@functools.lru_cache(maxsize=1)
def state_faces() -> list[str]:
    return fonts.state_faces()


@dataclass
class Plate:
    image: np.ndarray  # RGB uint8, PLATE_H x PLATE_W
    text: str
    state: str
    name: str = ""  # the state's name as printed
    slogan: str = ""  # the words on the other band ("" for none)
    name_at_top: bool = True


STACKED, PICTOGRAM = "\x01", "\x02"  # marks _draw_tracked sets in a character's slot


def _stacked_pair(
    draw, rng: random.Random, font_path: str, x: int, top: int, w: int, cap: int, ink
) -> None:
    """Two letters, each about half the registration's height, one above the other in
    one slot (x, top, w wide, cap high), in the registration's own face and ink."""
    chars = [rng.choice(LETTERS if rng.random() < 0.85 else DIGITS) for _ in range(2)]
    size = 10
    while size < 200:  # the size whose capital is a little under half of cap
        f = ImageFont.truetype(font_path, size + 2)
        if f.getbbox("H")[3] - f.getbbox("H")[1] > cap * 0.48:
            break
        size += 2
    font = ImageFont.truetype(font_path, size)
    for i, c in enumerate(chars):
        x0, y0, x1, y1 = font.getbbox(c)
        y = top if i == 0 else top + cap - (y1 - y0)
        draw.text((x + (w - (x1 - x0)) // 2 - x0, y - y0), c, font=font, fill=ink)


def _draw_tracked(
    draw,
    font_path: str,
    text: str,
    rng: random.Random,
    ink,
    left: int = 0,
    plain_one: bool = False,
    blank: float = 1 / 3,
    serif_i: bool = False,
) -> list[Blank]:
    """Characters set one by one at a wide, even pitch, as plate presses stamp them, right
    of `left` (where the plate has art). plain_one stamps a 1 as a bare bar (the I glyph),
    as Massachusetts, Arizona and Idaho do; serif_i stamps the letter I as an I-beam, with
    bars at its top and foot, as California, Illinois and Michigan do. A space is `blank`
    times the character height wide (Texas, Florida and Louisiana leave a character's
    width or more for the emblem).

    Two marks are not characters and never in the label: STACKED, a pair of half-height
    letters one above the other (before the registration: Delaware's PC, Massachusetts' US;
    after it: Wyoming's BH, North Carolina's WC), and
    PICTOGRAM, a symbol in the characters' ink (a wheelchair, a cactus, a tree, a star).
    STACKED often sits closer to the registration than the pitch (Massachusetts' US4280,
    read S4280 by interim-6).

    Returns each blank in text."""
    n = len(text)
    height = rng.randint(75, 100)
    font = ImageFont.truetype(font_path, height)
    special = {" ": blank, STACKED: 0.42, PICTOGRAM: 0.6}
    widths = [
        int(height * special[c]) if c in special else font.getbbox(c)[2] - font.getbbox(c)[0]
        for c in text
    ]
    span = rng.randint(240, 320)
    gap = max(0.0, (span - sum(widths)) / max(1, n - 1))
    total = sum(widths) + gap * (n - 1)
    scale = min(1.0, (330 - left) / max(total, 1))
    if scale < 1.0:
        font = ImageFont.truetype(font_path, max(10, int(height * scale)))
        widths = [w * scale for w in widths]
        gap *= scale
        total = sum(widths) + gap * (n - 1)
    x = left + (PLATE_W - left - total) / 2
    top = rng.randint(34, 50)
    blanks = []
    cap = font.getbbox("H")[3] - font.getbbox("H")[1]
    tight = rng.uniform(0.15, 1.0) if STACKED in text else 1.0
    for i, (c, w) in enumerate(zip(text, widths)):
        if c == STACKED:
            _stacked_pair(draw, rng, font_path, int(x), top, int(w), cap, ink)
        elif c == PICTOGRAM:
            pictures.pictogram(draw, rng, int(x), top, int(w), cap, ink)
        elif c != " ":
            glyph = "I" if plain_one and c == "1" else c
            x0, y0, x1, _ = font.getbbox(glyph)
            shift = (w - (x1 - x0)) / 2  # the bar sits where the 1 would
            dy = rng.randint(-1, 1)
            draw.text((x - x0 + shift, top - y0 + dy), glyph, font=font, fill=ink)
            if serif_i and c == "I":
                stem, mid = (x1 - x0) * 0.7, x + w / 2  # the box holds side bearings
                half, thick = stem * 1.2, max(2, stem * 0.5)
                for yb in (top + dy, top + dy + cap - thick):
                    draw.rectangle([mid - half, yb, mid + half, yb + thick], fill=ink)
        else:
            blanks.append(Blank(int(x + w / 2), int(w + gap), top, int(height * scale)))
        # class letters often sit close against the registration (Massachusetts' US4280)
        x += w + (gap * tight if STACKED in text[i : i + 2] else gap)
    return blanks


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _stacked(draw, rng: random.Random, cx: int, top: int, bottom: int, ink) -> None:
    """Two or three small characters one above the other (a county or class mark such as
    Delaware's PC or Massachusetts' US): on the plate, never part of the registration."""
    n = rng.choice((2, 2, 3))
    chars = "".join(rng.choice(LETTERS + DIGITS) for _ in range(n))
    size = max(10, min(24, (bottom - top) // n - 2))
    font = ImageFont.truetype(rng.choice(fonts.debian()[1]), size)
    y = top
    for c in chars:
        x0, y0, x1, y1 = font.getbbox(c)
        draw.text((cx - (x1 - x0) // 2 - x0, y - y0), c, font=font, fill=ink)
        y += (bottom - top) // n


def _left_art(img: Image.Image, draw, rng: random.Random, backdrops, ink) -> int:
    """Art at the plate's left end, where many states print a seal, an animal, a flag or a
    big anniversary number (a lobster, a pelican, Alaska's 50) or a sponsor's word mark
    (UNCG, USA; interim-6 read UNCG G0945 as WIG0945), and where small stacked marks sit.
    Returns the x the registration starts right of."""
    left = rng.randint(55, 110)
    kind = rng.random()
    if kind < 0.45 and backdrops:  # a photo-like picture, in full colour
        src = rng.choice(backdrops)
        sh, sw = src.shape[:2]
        ph, pw = min(sh, rng.randint(60, 300)), min(sw, rng.randint(40, 200))
        y, x = rng.randint(0, sh - ph), rng.randint(0, sw - pw)
        h = rng.randint(70, 150)
        y0 = rng.randint(20, PLATE_H - h)
        patch = cv2.resize(src[y : y + ph, x : x + pw], (left - 6, h))
        img.paste(Image.fromarray(patch), (rng.randint(0, 6), y0))
    elif kind < 0.75:  # a seal or shape in a few flat colours
        for _ in range(rng.randint(1, 3)):
            colour = tuple(rng.randint(0, 255) for _ in range(3))
            x0, y0 = rng.randint(0, left // 2), rng.randint(20, 110)
            box = [x0, y0, min(left - 4, x0 + rng.randint(20, left)), y0 + rng.randint(20, 70)]
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    elif kind < 0.88:  # a coloured block with a big number or word in it
        colour = tuple(rng.randint(0, 200) for _ in range(3))
        y0 = rng.randint(25, 70)
        draw.rectangle([4, y0, left - 6, y0 + rng.randint(50, 100)], fill=colour)
        word = rng.choice(("50", "100", "25", "150", "USA", "4H"))
        f = fonts.fit(rng.choice(fonts.debian()[1]), word, left - 14, 40)
        draw.text((8, y0 + 6), word, font=f, fill=tuple(255 - c for c in colour))
    else:  # a sponsor's word mark with no block around it (UNCG, USA, a college's LR)
        word = (
            rng.choice(("USA", "UNCG", "LR", "UNC", "GO", "VT", "NRA", "4H"))
            if rng.random() < 0.5
            else "".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 4)))
        )
        f = fonts.fit(
            rng.choice(fonts.debian()[1] + plate_fonts()), word, left - 8, rng.randint(22, 50)
        )
        colour = rng.choice(pictures.EMBLEM_COLOURS + INK_COLOURS)
        draw.text((rng.randint(2, 8), rng.randint(40, 80)), word, font=f, fill=colour)
    if rng.random() < 0.4:
        _stacked(
            draw, rng, left - rng.randint(16, 22), rng.randint(40, 55), rng.randint(110, 140), ink
        )
    return left


def _sticker(draw, rng: random.Random, x: int, colour: tuple) -> None:
    """A registration sticker or month tab: a coloured box, often with a month or a year."""
    w, h = rng.randint(26, 50), rng.randint(16, 30)
    draw.rectangle([x, 6, x + w, 6 + h], fill=colour)
    if rng.random() < 0.7:
        word = rng.choice(MONTHS) if rng.random() < 0.5 else f"{rng.randint(0, 99):02d}"
        f = fonts.fit(rng.choice(fonts.debian()[1]), word, w - 4, h - 4)
        ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
        draw.text((x + 2, 8), word, font=f, fill=ink)


def render_plate(
    rng: random.Random,
    text: str | None = None,
    state: str | None = None,
    two_line: bool | None = None,
    rich: bool = False,
    backdrops: list[np.ndarray] | None = None,
    p_two_line: float = 0.05,
) -> Plate:
    """Render one flat plate, full size, with its header, slogan, stickers and bolts.

    rich adds what the OCR needs and the detector does not: printed background art (from
    backdrops, RGB photos), characters set at a wide even pitch, a symbol in the gap, the
    fetched plate fonts (plate_fonts). Without it the random draws are as before, so the demo
    clip and detector data rebuild the same.
    """
    body_fonts, header_fonts = fonts.debian()
    text = text or random_text(rng)
    state = state or rng.choice(sorted(STATES))
    dark = rng.random() < 0.12
    if dark:
        bg = tuple(rng.randint(10, 70) for _ in range(3))
        ink = (rng.randint(220, 255), rng.randint(200, 255), rng.randint(150, 255))
    else:
        base = rng.randint(200, 255)
        bg = (
            (base, base - rng.randint(0, 25), base - rng.randint(0, 60))
            if rng.random() < 0.4
            else (base, base, base)
        )
        ink = rng.choice(INK_COLOURS)
    if rich and not dark and rng.random() < 0.5:
        img = pictures.backdrop_art(rng, bg, backdrops, PLATE_W, PLATE_H)
    else:
        img = Image.new("RGB", (PLATE_W, PLATE_H), bg)
    draw = ImageDraw.Draw(img)
    if rng.random() < 0.4:  # graphic background band
        band = tuple(int(c * rng.uniform(0.6, 1.0)) for c in bg)
        y = rng.randint(40, 150)
        draw.rectangle([0, y, PLATE_W, y + rng.randint(10, 40)], fill=band)
    header_ink = rng.choice(INK_COLOURS) if not dark else ink
    if rich:  # the state's name at the top (or the foot) and its own slogan
        name, slogan = states.header(rng, state), states.slogan(rng, state)
        name_y, slogan_y = rng.randint(4, 12), PLATE_H - rng.randint(24, 30)
        if rng.random() < 0.25:
            name_y, slogan_y = PLATE_H - rng.randint(30, 40), rng.randint(4, 10)
    else:
        name = STATES[state]
        if rng.random() < 0.5:
            name = name.upper()
        name_y = None  # drawn after the font, as before: the demo clip rebuilds the same
    faces = state_faces() if rich else header_fonts
    hf = fonts.fit(rng.choice(faces), name, rng.randint(160, 300), rng.randint(18, 32))
    hw = hf.getbbox(name)[2]
    name_y = rng.randint(4, 12) if name_y is None else name_y
    draw.text(((PLATE_W - hw) // 2, name_y), name, font=hf, fill=header_ink)
    if not rich:
        slogan, slogan_y = rng.choice(states.ANY_SLOGAN), None
    if slogan:
        sf = fonts.fit(rng.choice(faces), slogan, 240, rng.randint(12, 20))
        sw = sf.getbbox(slogan)[2]
        slogan_y = PLATE_H - rng.randint(24, 30) if slogan_y is None else slogan_y
        draw.text(((PLATE_W - sw) // 2, slogan_y), slogan, font=sf, fill=header_ink)
    extra = plate_fonts() if rich else []
    font_path = rng.choice(extra) if extra and rng.random() < 0.55 else rng.choice(body_fonts)
    left = _left_art(img, draw, rng, backdrops, ink) if rich and rng.random() < 0.3 else 0
    plain_one = rich and "Mono" not in font_path and rng.random() < 0.4
    two_line = (rng.random() < p_two_line and len(text) >= 6) if two_line is None else two_line
    if two_line:
        half = len(text) // 2
        for i, part in enumerate((text[:half], text[half:])):
            f = fonts.fit(font_path, part, min(250, PLATE_W - left - 12), 52)
            x0, y0, x1, y1 = f.getbbox(part)
            draw.text(
                (left + (PLATE_W - left - (x1 - x0)) // 2 - x0, 38 + i * 58 - y0),
                part,
                font=f,
                fill=ink,
            )
    elif rich and rng.random() < 0.5:
        shown, blank = text, 1 / 3
        if len(text) >= 5 and rng.random() < 0.6:
            cut = rng.randint(2, len(text) - 2)
            shown = text[:cut] + " " + text[cut:]
            if rng.random() < 0.5:  # a gap a character wide or more
                blank = rng.uniform(0.5, 1.1)
        wyoming = len(text) >= 4 and not left and rng.random() < 0.08
        if wyoming:  # a county number, a horse in a wide gap, the registration
            if rng.random() < 0.5:  # a full-size county number is read
                cut = rng.randint(1, 2)
                shown = text[:cut] + " " + text[cut:]
            else:  # a small stacked one is not
                shown = STACKED + " " + text
            blank = rng.uniform(1.1, 1.6)
        mark = 1.0 if wyoming else rng.random()
        if mark < 0.12 and not left:  # class letters or a symbol before the registration
            shown = STACKED + shown
        elif mark < 0.22 and not left:
            shown = PICTOGRAM + shown
        elif mark < 0.27 and not left:  # a small county number, then a picture (Wyoming)
            shown = STACKED + PICTOGRAM + shown
        if rng.random() < 0.15:  # class letters after it (Wyoming's BH, North Carolina's WC)
            shown = shown + STACKED
        serif_i = rng.random() < 0.3
        blanks = _draw_tracked(draw, font_path, shown, rng, ink, left, plain_one, blank, serif_i)
        mark = rng.random()
        if wyoming:
            pictures.gap_emblem(img, draw, rng, blanks[0], backdrops, "rider")
        elif blanks and mark < 0.35:  # a picture as tall as the characters (Florida, Texas)
            pictures.gap_emblem(img, draw, rng, blanks[0], backdrops)
        elif blanks and mark < 0.5:  # a small state emblem (diamond, heart)
            cx, cy, r = blanks[0].cx, rng.randint(70, 95), rng.randint(6, 12)
            draw.polygon(
                [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)],
                fill=rng.choice(INK_COLOURS),
            )
        elif blanks and mark < 0.62:  # a dot between the groups
            cx, cy, r = blanks[0].cx, rng.randint(80, 95), rng.randint(3, 6)
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ink)
        elif blanks and mark < 0.74:  # small stacked letters in the gap
            _stacked(draw, rng, blanks[0].cx, rng.randint(40, 50), rng.randint(120, 135), ink)
    else:
        shown = text
        if len(text) >= 6 and rng.random() < 0.25:  # a gap or dash that is not part of the text
            cut = rng.randint(2, len(text) - 2)
            shown = text[:cut] + rng.choice((" ", "-", " ")) + text[cut:]
        max_w = min(rng.randint(250, 330), PLATE_W - left - 12)  # right of any left art
        if plain_one:
            shown = shown.replace("1", "I")  # drawn as a bare bar; the label keeps the 1
        f = fonts.fit(font_path, shown, max_w, rng.randint(80, 105))
        x0, y0, x1, y1 = f.getbbox(shown)
        cy = rng.randint(36, 52)
        draw.text(
            (left + (PLATE_W - left - (x1 - x0)) // 2 - x0, cy - y0 + (100 - (y1 - y0)) // 2),
            shown,
            font=f,
            fill=ink,
        )
    for _ in range(rng.choice((0, 1, 1, 2))):  # registration stickers in the top corners
        x = rng.choice((rng.randint(6, 40), rng.randint(PLATE_W - 70, PLATE_W - 36)))
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        if rich:
            _sticker(draw, rng, x, colour)
        else:
            draw.rectangle([x, 6, x + rng.randint(26, 44), 6 + rng.randint(16, 26)], fill=colour)
    for bx in (rng.randint(50, 80), PLATE_W - rng.randint(50, 80)):  # bolts
        for by in (rng.randint(12, 22), PLATE_H - rng.randint(12, 22)):
            if rng.random() < 0.7:
                draw.ellipse(
                    [bx - 6, by - 6, bx + 6, by + 6], fill=(150, 150, 140), outline=(60, 60, 60)
                )
    if rng.random() < 0.8:
        draw.rectangle(
            [1, 1, PLATE_W - 2, PLATE_H - 2], outline=header_ink, width=rng.randint(1, 5)
        )
    if rng.random() < 0.25:  # a dealer frame hiding the top or bottom edge
        frame = tuple(rng.randint(0, 60) for _ in range(3))
        draw.rectangle([0, PLATE_H - rng.randint(14, 30), PLATE_W, PLATE_H], fill=frame)
    arr = np.asarray(img).copy()
    if rng.random() < 0.5:  # embossing: light from above
        grey = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY).astype(np.float32)
        emb = np.roll(grey, 2, axis=0) - grey
        arr = np.clip(arr.astype(np.float32) + emb[..., None] * rng.uniform(0.1, 0.35), 0, 255)
        arr = arr.astype(np.uint8)
    return Plate(arr, text, state, name, slogan, name_y < PLATE_H // 2)
