"""The texts on the synthetic plates (train/synth.py draws them): US serial formats, plates
heavy in the letters most misread on real ones (W, M, N, H), and repeated characters."""

from __future__ import annotations

import random

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
# L = letter, D = digit, X = either; common US serial formats plus vanity lengths.
PATTERNS = (
    "DLLLDDD",
    "LLLDDDD",
    "LLLDDD",
    "DDDLLL",
    "LLDDDDD",
    "DLLDDD",
    "LLLLDDD",
    "DDDDLL",
    "LDDLLL",
    "DDLLLD",
    "LLDLDLD",
    "DLLLLDD",
    "XXXXX",
    "XXXXXX",
    "XXXXXXX",
    "XXXXXXXX",
    "LLLL",
    "DDDDDD",
    "LDDDDDD",
    "DDDLDDD",
)


def random_text(rng: random.Random) -> str:
    pattern = rng.choice(PATTERNS)
    chars = []
    for p in pattern:
        pool = LETTERS if p == "L" else DIGITS if p == "D" else LETTERS + DIGITS
        chars.append(rng.choice(pool))
    return "".join(chars)


WIDE = "WWWMMNH"  # the letters most misread on real plates (#34 item 5), W the most


def wide_text(rng: random.Random) -> str:
    """A registration with one or two of its characters a wide letter (WIDE): W is 1 letter
    in 26 of random_text's and the letter our OCR misreads most often (as H, M, N, K)."""
    chars = list(random_text(rng))
    for i in rng.sample(range(len(chars)), min(len(chars), rng.choice((1, 1, 2)))):
        chars[i] = rng.choice(WIDE)
    return "".join(chars)


def repeated_text(rng: random.Random) -> str:
    """A registration with a character stamped twice or three times in a row (HF44Y3B, 777),
    so the OCR learns to count a run of equal characters instead of doubling a single one."""
    chars = list(random_text(rng))
    i = rng.randrange(len(chars) - 1)
    run = 3 if len(chars) >= 6 and i < len(chars) - 2 and rng.random() < 0.25 else 2
    for k in range(1, run):
        chars[i + k] = chars[i]
    return "".join(chars)
