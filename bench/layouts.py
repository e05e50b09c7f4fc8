"""Plate layouts the real sets hold too few of to measure: two-line plates, 8 characters.

    python bench/layouts.py [--plates 200]

Renders plain plates with train/synth.py (not the OCR's rich training style; seeds apart from
any training set's), shrinks each to 180x90 px (a plate about 90 px wide in a 720p frame,
doubled), and reads it with the shipped OCR through the recognizer's crop step and views.
Synthetic, so an upper bound for real plates of the same layout; prints exact read rates.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alprd.config import RecognizeConfig  # noqa: E402
from alprd.recognize.recognizer import Recognizer  # noqa: E402
from train import plate_text, synth  # noqa: E402

SEED = 900_000  # training sets draw from seeds below 10,000


def read_rate(rec: Recognizer, texts: list[str], two_line: bool, seed: int) -> float:
    ok = 0
    for k, text in enumerate(texts):
        rng = random.Random(seed + k)
        plate = synth.render_plate(rng, text=text, two_line=two_line)
        img = cv2.resize(plate.image, (180, 90), interpolation=cv2.INTER_AREA)[..., ::-1]
        ok += rec.read_box(img, (0, 0, 180, 90))[0].text == text
    return 100.0 * ok / len(texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plates", type=int, default=200)
    a = ap.parse_args()
    rec = Recognizer.from_config(RecognizeConfig())
    rng = random.Random(SEED)
    alnum = plate_text.LETTERS + plate_text.DIGITS
    six_plus = []
    while len(six_plus) < a.plates:
        t = plate_text.random_text(rng)
        if len(t) >= 6:
            six_plus.append(t)
    eight = ["".join(rng.choice(alnum) for _ in range(8)) for _ in range(a.plates)]
    seven = ["".join(rng.choice(alnum) for _ in range(7)) for _ in range(a.plates)]
    print(f"plates: {a.plates} per layout")
    print(f"one_line_7_read: {read_rate(rec, seven, False, SEED + 10_000):.1f} %")
    print(f"one_line_8_read: {read_rate(rec, eight, False, SEED + 20_000):.1f} %")
    print(f"two_line_read: {read_rate(rec, six_plus, True, SEED + 30_000):.1f} %")


if __name__ == "__main__":
    main()
