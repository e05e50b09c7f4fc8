"""The synthetic plate generator (train/synth.py): what the OCR is taught must be true of
the pixels. Needs only Pillow, OpenCV and a DejaVu font (fonts-dejavu-core, in ./run test)."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from train import camera, fonts, pictures, plate_text, synth


def _sans_font() -> str:
    body, header = fonts.debian()
    for path in body + header:
        if "Sans" in path and "Mono" not in path:
            return path
    pytest.skip(
        "no sans-serif font among train/synth.py's fonts (apt-get install fonts-dejavu-core)"
    )


def _tracked_ink(text: str, seed: int, **kw) -> np.ndarray:
    """Where text, set one character at a time by synth._draw_tracked in a sans face on a
    white plate, left ink (True)."""
    img = Image.new("RGB", (synth.PLATE_W, synth.PLATE_H), "white")
    synth._draw_tracked(
        ImageDraw.Draw(img), _sans_font(), text, random.Random(seed), (0, 0, 0), **kw
    )
    return np.asarray(img.convert("L")) < 128


def _ink_columns(img: Image.Image) -> np.ndarray:
    grey = np.asarray(img.convert("L"))
    return np.flatnonzero((grey < 128).any(axis=0))


def test_rich_plates_and_crops_carry_their_text():
    rng = random.Random(3)
    backdrops = [np.random.default_rng(0).integers(0, 255, (300, 500, 3), dtype=np.uint8)]
    for _ in range(40):
        plate = synth.render_plate(rng, rich=True, backdrops=backdrops)
        assert plate.image.shape == (synth.PLATE_H, synth.PLATE_W, 3)
        assert re.fullmatch(r"[A-Z0-9]{4,8}", plate.text)
        assert plate.state in synth.STATES
    for _ in range(20):
        crop, text, _ = camera.ocr_crop(rng, backdrops)
        assert crop.ndim == 3 and crop.shape[0] >= 8 and crop.shape[1] >= 8
        assert re.fullmatch(r"[A-Z0-9]{4,8}", text)


def test_a_given_text_is_what_the_plate_is_labelled():
    rng = random.Random(5)
    for text in ("1I1I11", "O0O0Q8B", "ABC1234"):
        assert synth.render_plate(rng, text=text, rich=True).text == text
        assert camera.ocr_crop(rng, text=text)[1] == text


def test_plain_one_is_stamped_as_a_bare_bar():
    """Massachusetts, Arizona and Idaho stamp a 1 as a bare bar: with plain_one the 1 is
    drawn with the font's I glyph (no flag, no foot), in the 1's own slot."""

    def draw(text, plain_one):
        return np.flatnonzero(_tracked_ink(text, 1, plain_one=plain_one).any(axis=0))

    bar, one, letter_i = draw("1", True), draw("1", False), draw("I", False)
    assert len(bar) == len(letter_i)  # the same glyph
    assert len(bar) < len(one)  # the flagged 1 is wider than the bar
    # the label is not touched: a plate rendered from "1" keeps "1"
    assert synth.render_plate(random.Random(2), text="111111", rich=True).text == "111111"


def test_left_art_stays_left_of_the_registration():
    """Seals, pictures, big anniversary numbers and stacked marks at the plate's left end
    (the Alaska 50, the Maine lobster, Delaware's PC) stay left of where the text starts,
    so a crop never teaches the OCR that they are characters."""
    backdrops = [np.random.default_rng(1).integers(0, 255, (300, 500, 3), dtype=np.uint8)]
    for seed in range(60):
        img = Image.new("RGB", (synth.PLATE_W, synth.PLATE_H), "white")
        left = synth._left_art(img, ImageDraw.Draw(img), random.Random(seed), backdrops, (0, 0, 0))
        assert 40 <= left <= synth.PLATE_W // 3
        inked = np.flatnonzero((np.asarray(img) < 250).any(axis=(0, 2)))
        assert inked.size and inked.max() < left, f"seed {seed}: art reaches x={inked.max()}"


def test_stickers_may_carry_a_month_or_a_year():
    seen_text = 0
    for seed in range(30):
        img = Image.new("RGB", (120, 60), "white")
        synth._sticker(ImageDraw.Draw(img), random.Random(seed), 10, (250, 220, 0))
        px = np.asarray(img)
        ys, xs = np.nonzero((px < 250).any(axis=-1))
        assert 10 <= xs.min() and xs.max() <= 60 and 6 <= ys.min() and ys.max() <= 36
        assert (px == (250, 220, 0)).all(axis=-1).sum() > 26 * 16 * 0.5  # mostly sticker
        seen_text += int((px.sum(axis=-1) < 100).any())  # dark ink on a yellow sticker
    assert 10 <= seen_text <= 29


def test_repeated_text_holds_a_run_of_one_character():
    rng = random.Random(11)
    texts = [plate_text.repeated_text(rng) for _ in range(300)]
    assert all(re.fullmatch(r"[A-Z0-9]{4,8}", t) for t in texts)
    assert all(re.search(r"(.)\1", t) for t in texts)
    assert any(re.search(r"(.)\1\1", t) for t in texts)
    # the OCR set draws them for about a quarter of its random texts
    rng = random.Random(12)
    runs = sum(bool(re.search(r"(.)\1", camera.ocr_crop(rng)[1])) for _ in range(120))
    assert 25 <= runs <= 70


def test_detector_distractors_never_touch_a_plate():
    """Hard negatives (date stamps, sign words, grilles) are painted clear of every labelled
    plate, so no plate pixel is taught as background."""
    from train import detsamples

    rng = random.Random(4)
    painted = 0
    for _ in range(30):
        img = np.full((480, 640, 3), 128, np.uint8)
        boxes = np.float32([[rng.randint(0, 500), rng.randint(0, 400), 0, 0]])
        boxes[:, 2:] = boxes[:, :2] + np.float32([rng.randint(40, 140), rng.randint(20, 70)])
        x1, y1, x2, y2 = (int(v) for v in boxes[0])
        before = img.copy()
        detsamples.paint_distractors(img, boxes, rng)
        assert np.array_equal(img[y1 : y2 + 1, x1 : x2 + 1], before[y1 : y2 + 1, x1 : x2 + 1])
        painted += not np.array_equal(img, before)
    assert painted >= 25


def test_dim_photos_keep_their_shape_and_lose_contrast():
    from train import detsamples

    img = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    out = detsamples.low_contrast(img, random.Random(2))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert out.astype(float).std() < 0.55 * img.astype(float).std()


@pytest.mark.parametrize("kind", [None, "fir", "zia", "rider"])
def test_a_wide_blank_holds_a_picture_between_the_groups(kind):
    """Florida, Texas, Louisiana and Maryland stamp a picture as tall as the characters in a
    gap about a character wide, Oregon a fir, New Mexico a zia sun, Wyoming a horse and
    rider; the OCR read such gaps as a doubled neighbour (H507VU as H5077VU, SKT 517 as
    SKT5577). A wide blank leaves that gap, and the picture stays around it (it may touch
    the characters either side, as Florida's oranges do). kind None: a random one of all
    but the rider, which comes only with Wyoming's layout."""
    path = _sans_font()
    backdrops = [np.random.default_rng(0).integers(0, 255, (300, 500, 3), dtype=np.uint8)]
    rng = random.Random(9)
    for _ in range(12):
        img = Image.new("RGB", (synth.PLATE_W, synth.PLATE_H), "white")
        draw = ImageDraw.Draw(img)
        blanks = synth._draw_tracked(draw, path, "ABC 123", rng, (0, 0, 0), blank=1.0)
        assert len(blanks) == 1
        b = blanks[0]
        ink = _ink_columns(img)
        left, right = ink[ink < b.cx].max(), ink[ink > b.cx].min()
        assert right - left >= 0.8 * b.height  # the gap is about a character wide
        before = np.asarray(img).copy()
        pictures.gap_emblem(img, draw, rng, b, backdrops, kind)
        changed = np.argwhere((np.asarray(img) != before).any(axis=2))
        assert len(changed) > 0.1 * b.height**2 * 0.3  # a picture, not a dot
        cols, rows = changed[:, 1], changed[:, 0]
        assert cols.min() >= b.cx - 0.7 * b.width - b.height // 2 - 2
        assert cols.max() <= b.cx + 0.7 * b.width + b.height // 2 + 2
        assert rows.min() >= b.top - 16 and rows.max() <= b.top + b.height + 16


@pytest.mark.parametrize("mark", [synth.STACKED, synth.PICTOGRAM])
def test_marks_before_the_registration_are_drawn_and_never_read(mark):
    """Class letters stacked in one slot (Delaware's PC) and symbols in the characters' ink
    (a wheelchair) sit left of the registration; the OCR read them as an extra first
    character. They are drawn in their own slot, and the label never holds them."""
    plain, marked = _tracked_ink("ABC123", 4), _tracked_ink(mark + "ABC123", 4)
    first = np.flatnonzero(marked.any(axis=0))[0]
    assert np.flatnonzero(plain.any(axis=0))[0] > first  # the mark is left of the text
    slot = marked[:, first : first + 12]
    rows = np.flatnonzero(slot.any(axis=1))
    if mark == synth.STACKED:  # two letters one above the other: a blank row between
        assert not slot[rows[0] : rows[-1] + 1].any(axis=1).all()
    rng = random.Random(6)
    texts = [synth.render_plate(rng, rich=True).text for _ in range(60)]
    assert all(re.fullmatch(r"[A-Z0-9]{4,8}", t) for t in texts)


def test_wyoming_layout_sets_a_horse_between_county_and_registration(monkeypatch):
    """Wyoming stamps a county number (full size and read, or small, stacked and not), a
    horse and rider in a gap wider than a character, then the registration; interim-6 read
    4 779 as 47779. Some rich plates take that layout; every label stays the registration
    (the full-size county number included), never the horse or a stacked county."""
    rng = random.Random(21)
    drawn = []
    original = pictures.gap_emblem

    def spy(img, draw, rng_, blank, backdrops, kind=None):
        drawn.append(kind)
        return original(img, draw, rng_, blank, backdrops, kind)

    monkeypatch.setattr(pictures, "gap_emblem", spy)
    plates = [synth.render_plate(rng, rich=True) for _ in range(400)]
    assert 0 < drawn.count("rider") < 0.1 * len(plates)
    assert all(re.fullmatch(r"[A-Z0-9]{4,8}", p.text) for p in plates)


def test_class_letters_after_the_registration_are_drawn_and_never_read():
    """Wyoming (248 BH) and North Carolina (2861 WC) stack class letters right of the
    registration; the OCR read them as a doubled last character (248 as 2488). They are
    drawn in their own slot right of the text, and the label never holds them."""
    plain, marked = _tracked_ink("ABC123", 4), _tracked_ink("ABC123" + synth.STACKED, 4)
    last = np.flatnonzero(marked.any(axis=0))[-1]
    assert np.flatnonzero(plain.any(axis=0))[-1] < last  # the mark is right of the text
    slot = marked[:, last - 10 : last + 1]
    rows = np.flatnonzero(slot.any(axis=1))
    assert not slot[rows[0] : rows[-1] + 1].any(axis=1).all()  # two letters, a gap between
    rng = random.Random(11)
    plates = [synth.render_plate(rng, rich=True) for _ in range(80)]
    assert all(re.fullmatch(r"[A-Z0-9]{4,8}", p.text) for p in plates)


def test_serif_i_puts_bars_on_the_letter_i_only():
    """California, Illinois and Michigan stamp the letter I as an I-beam; the OCR read it
    as a T (FAMILY as FAMTLY). serif_i adds the bars to the letter, never to a 1 drawn as
    a bare bar."""

    def ink(text, **kw):
        return int(_tracked_ink(text, 1, **kw).sum())

    assert ink("I", serif_i=True) > 1.3 * ink("I")
    assert ink("1", plain_one=True, serif_i=True) == ink("1", plain_one=True)


def test_every_jurisdiction_has_its_own_words_in_the_order_the_state_head_reads():
    """A rich plate names its state and prints that state's slogan (never another's): the
    state head (train/state_model.py) learns the state from those words, and its outputs
    are in alprd's order (alprd.recognize.state.CODES)."""
    from alprd.recognize.state import CODES
    from train import states

    assert states.CODES == CODES and len(CODES) == 51
    assert set(states.SLOGANS) == set(states.STATES)
    rng = random.Random(5)
    others = {s for code, slogans in states.SLOGANS.items() for s in slogans}
    for code in CODES:
        names = {states.header(rng, code) for _ in range(30)}
        assert states.STATES[code].upper() in names or code == "DC"
        for _ in range(10):
            slogan = states.slogan(rng, code)
            assert slogan == "" or slogan in states.SLOGANS[code]
    # no slogan is shared by two states (it would teach the head a coin toss)
    assert len(others) == sum(len(v) for v in states.SLOGANS.values())


def test_wide_text_puts_one_or_two_wide_letters_in_a_registration():
    """#34 item 5: training plates rich in W (then M, N, H), the letters read wrong most."""
    rng = random.Random(5)
    texts = [plate_text.wide_text(rng) for _ in range(300)]
    assert all(any(c in plate_text.WIDE for c in t) for t in texts)
    assert all(2 <= len(t) <= 8 and t.isalnum() and t == t.upper() for t in texts)
    share_w = sum(t.count("W") for t in texts) / sum(len(t) for t in texts)
    assert share_w > 3 / 36  # against 1 in 36 in random_text
