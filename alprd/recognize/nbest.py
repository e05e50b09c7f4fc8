"""The K most probable texts of a plate, with their probabilities: what the readers were
unsure between, for the hotlist to match (hotlist.matcher.Matcher, `candidates`).

Both readers give a probability for every character in every slot (the pad `_` included, so
lengths are candidates too). strings() turns one reading's slots into its most probable
texts (a beam over the slots; texts that differ only in where the pads fall are one text);
mixture() averages the readings of one plate (the views, the second reader) or of one pass
(its sightings) into one list. A probability is then the share of readings that favour the
text, weighted by how sure each was.

The views of one plate are weighted by their mean character confidence to the power
WEIGHT_POWER: a view that read the plate badly (a wide margin that shrinks a W to an H, a
cut-off end) sits near 0.8 and weighs 3 % of a view near 1.0, so its guesses no longer make
the readers look doubtful about plates they read right (each doubt is a text the hotlist may
hold). The power and hotlist.nbest_min_probability, and how they were chosen:
train/MODEL_CARD.md, "The readers' doubts, matched".
"""

from __future__ import annotations

import heapq
import math

import numpy as np

K = 8  # texts kept per reading and per mixture
WEIGHT_POWER = 16  # a view's weight: its mean character confidence to this power
FLOOR = 0.005  # texts less probable than this are dropped
# a text is never more probable than its least probable character, so characters under
# FLOOR / 2 (and beams under it: pad variants of one text are summed) are never followed
SLOT_FLOOR = FLOOR / 2

Candidates = tuple[tuple[str, float], ...]


def strings(probs: np.ndarray, alphabet: str, pad: str, k: int = K) -> Candidates:
    """The k most probable texts of one reading, probs [slots, len(alphabet)]."""
    best = np.log(np.maximum(probs.max(axis=1), 1e-12))
    rest = np.concatenate([np.cumsum(best[::-1])[::-1], [0.0]]).tolist()  # rows r.. at best
    rows, cols = np.nonzero(probs >= SLOT_FLOOR)
    logs = np.log(np.maximum(probs[rows, cols], 1e-12)).tolist()
    picks: list[list[tuple[float, str]]] = [[] for _ in range(len(probs))]
    for r, c, lp in zip(rows.tolist(), cols.tolist(), logs):
        picks[r].append((lp, "" if alphabet[c] == pad else alphabet[c]))
    floor = math.log(SLOT_FLOOR)
    beams: list[tuple[float, str]] = [(0.0, "")]
    for r, row in enumerate(picks):
        if not row:  # nothing as likely as SLOT_FLOOR: the slot's best guess
            c = int(probs[r].argmax())
            row = [(best[r], "" if alphabet[c] == pad else alphabet[c])]
        if len(row) == 1:  # most slots: one character, certain
            lp1, ch = row[0]
            beams = [(lp + lp1, text + ch) for lp, text in beams]
            continue
        # a beam that cannot reach SLOT_FLOOR even with the best of every slot left is dropped
        bound = floor - rest[r + 1]
        grown = [
            (lp + lp1, text + ch) for lp, text in beams for lp1, ch in row if lp + lp1 >= bound
        ]
        beams = heapq.nlargest(2 * k, grown, key=lambda b: b[0]) or beams[:1]
    merged: dict[str, float] = {}
    for lp, text in beams:
        merged[text] = merged.get(text, 0.0) + math.exp(lp)
    return _top(merged, k)


def mixture(
    readings: list[Candidates], weights: list[float] | None = None, k: int = K
) -> Candidates:
    """The weighted mean of several readings' texts (each reading's probabilities sum to at
    most 1; a text a reading does not list counts 0 there)."""
    weights = weights or [1.0] * len(readings)
    total = sum(weights)
    merged: dict[str, float] = {}
    for reading, w in zip(readings, weights):
        for text, p in reading:
            merged[text] = merged.get(text, 0.0) + w * p / total
    return _top(merged, k)


def _top(merged: dict[str, float], k: int) -> Candidates:
    best = sorted(merged.items(), key=lambda tp: (-tp[1], tp[0]))[:k]
    return tuple((t, round(p, 4)) for t, p in best if p >= FLOOR and t)
