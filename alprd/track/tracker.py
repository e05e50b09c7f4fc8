"""Vehicle passes: group one plate's sightings across frames into one read.

A sighting joins an open pass of the same camera when its box overlaps the pass's last box
(allowing for motion) or its text is within two edits of the pass's text. The pass's text is
agreed by confidence-weighted per-character voting over the sightings of the most supported
length; the sharpest, most confident crop is kept. A pass closes after pass_gap_s without a
sighting (monotonic clock).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from alprd.geometry import iou
from alprd.recognize.nbest import mixture
from alprd.types import Observation


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _grown(box: Sequence[float], factor: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * factor, (y2 - y1) * factor
    return (x1 - dx, y1 - dy, x2 + dx, y2 + dy)


@dataclass
class Pass:
    camera_id: str
    first_mono: float
    last_mono: float
    sightings: list[Observation] = field(default_factory=list)
    alerted: bool = False  # an early hotlist alert fired for this pass
    # the state, read once a pass (alprd.recognize.state_worker): (state or None, its
    # confidence or None) once read; None before
    state_read: tuple[str | None, float | None] | None = None
    state_asked: bool = False
    id: str = field(default_factory=lambda: str(uuid.uuid4()))  # becomes the read's id

    @property
    def last_box(self) -> tuple[int, int, int, int]:
        return self.sightings[-1].plate.bbox

    def text(self) -> tuple[str, tuple[float, ...]]:
        """Confidence-weighted per-character vote among sightings of the winning length.

        Each character's confidence is the summed confidence of the sightings that read it,
        divided by the number of voters: unanimous 0.6 reads give 0.6, not certainty."""
        by_len: dict[int, float] = defaultdict(float)
        for s in self.sightings:
            by_len[len(s.plate.text)] += s.plate.confidence
        length = max(by_len, key=lambda n: by_len[n])
        votes: list[dict[str, float]] = [defaultdict(float) for _ in range(length)]
        for s in self.sightings:
            if len(s.plate.text) != length:
                continue
            for i, (ch, c) in enumerate(zip(s.plate.text, s.plate.char_confidences)):
                votes[i][ch] += c
        voters = sum(1 for s in self.sightings if len(s.plate.text) == length)
        chars, confs = [], []
        for v in votes:  # a character's confidence: its support over all voters, 0..1
            ch = max(v, key=lambda c: v[c])
            chars.append(ch)
            confs.append(v[ch] / voters)
        return "".join(chars), tuple(round(c, 4) for c in confs)

    def candidates(self) -> tuple[tuple[str, float], ...]:
        """The pass's most probable texts: the mean of its sightings' (each sighting's
        readings already averaged over views and readers: recognize/nbest.py), so a text
        several frames were unsure about gathers what one frame alone gives too little. A
        sighting without candidates counts its text as certain."""
        return mixture([s.plate.candidates or ((s.plate.text, 1.0),) for s in self.sightings])

    def best(self) -> Observation:
        return max(
            self.sightings, key=lambda s: s.plate.confidence * (1 + min(s.sharpness, 500) / 500)
        )


class PassTracker:
    def __init__(self, gap_s: float = 1.5, max_pass_s: float = 30.0) -> None:
        self.gap_s = gap_s
        self.max_pass_s = max_pass_s
        self.open: list[Pass] = []

    def add(self, obs: Observation) -> Pass:
        best, best_score = None, 0.0
        for p in self.open:
            if p.camera_id != obs.camera_id or obs.mono - p.last_mono > self.gap_s:
                continue
            overlap = iou(_grown(p.last_box, 0.5), obs.plate.bbox)
            dist = edit_distance(p.sightings[-1].plate.text, obs.plate.text)
            score = overlap + (1.0 if dist <= 2 else 0.0)
            if (overlap > 0.05 or dist <= 2) and score > best_score:
                best, best_score = p, score
        if best is None:
            best = Pass(obs.camera_id, obs.mono, obs.mono)
            self.open.append(best)
        best.sightings.append(obs)
        best.last_mono = obs.mono
        return best

    def expire(self, now: float, force: bool = False) -> list[Pass]:
        """Passes that are over: no sighting for gap_s, too long, or everything when forced."""
        done = [
            p
            for p in self.open
            if force or now - p.last_mono > self.gap_s or now - p.first_mono > self.max_pass_s
        ]
        self.open = [p for p in self.open if p not in done]
        return done
