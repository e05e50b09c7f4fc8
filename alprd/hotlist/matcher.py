"""The matching rules around an Index: exact, look-alike, one extra or missing character, and
the reader's n-best candidates; the state compared; the best first."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from alprd.hotlist.index import CODE, MAX_LEN, Entry, Index, unpack


@dataclass(frozen=True)
class Match:
    entry: Entry
    rule: str  # "exact", "look-alike", "extra-character", "missing-character", "n-best"
    differs: tuple[int, ...]  # positions in the read that differ from the entry
    state_rule: str  # "same", "entry-any-state", "read-state-unknown", "state-mismatch"
    candidate: str | None = None  # the text that matched: the read's, or a candidate
    probability: float | None = None  # the candidate's probability, where known


class Matcher:
    """The matching rules around an Index; swap() installs a new index atomically."""

    def __init__(
        self,
        index: Index | None = None,
        max_substitutions: int = 1,
        one_off: bool = False,
        state_mismatch: str = "alert",
        skip: tuple[str, ...] = (),
        min_length: int = 3,
        min_probability: float = 0.1,
    ) -> None:
        self.index = index or Index.build([])
        self.min_probability = min_probability  # a candidate's, to be matched (n-best)
        self.max_substitutions = max_substitutions
        self.one_off = one_off
        self.state_mismatch = state_mismatch  # "alert" (flagged in the rule) or "ignore"
        self.skip = set(skip)
        self.min_length = min_length

    def swap(self, index: Index) -> None:
        self.index = index  # one reference assignment: readers see the old or the new list

    def degenerate(self, text: str) -> bool:
        return (
            len(text) < self.min_length
            or len(text) >= MAX_LEN
            or text in self.skip
            or len(set(text)) == 1
        )

    def match(
        self,
        text: str,
        state: str | None = None,
        now: float | None = None,
        candidates: tuple[tuple[str, float], ...] = (),
    ) -> list[Match]:
        """Entries the read hits, best first. candidates: the read's most probable texts
        with their probabilities (recognize/nbest.py); each at min_probability or more is
        matched too (exactly or by look-alikes, never one-off), as rule "n-best"."""
        text = "".join(ch for ch in text.upper() if ch in CODE)
        idx = self.index  # one snapshot for the whole match
        now = time.time() if now is None else now
        probability = dict(candidates)
        out: list[Match] = []
        seen: set[int] = set()
        if not self.degenerate(text):
            out = [
                replace(m, candidate=text, probability=probability.get(text))
                for m in self._match(idx, text, self.one_off, state, now, seen)
            ]
        for cand, p in candidates:
            cand = "".join(ch for ch in cand.upper() if ch in CODE)
            if p < self.min_probability or cand == text or self.degenerate(cand):
                continue
            out += [
                replace(
                    m,
                    rule="n-best",
                    differs=_differs(text, m.entry.plate),
                    candidate=cand,
                    probability=p,
                )
                for m in self._match(idx, cand, False, state, now, seen)
            ]
        order = {
            "exact": 0,
            "look-alike": 1,
            "extra-character": 2,
            "missing-character": 2,
            "n-best": 3,
        }
        out.sort(
            key=lambda m: (order[m.rule], len(m.differs), -(m.probability or 0), m.entry.priority)
        )
        return out

    def _match(
        self, idx: Index, text: str, one_off: bool, state: str | None, now: float, seen: set[int]
    ) -> list[Match]:
        out, tried = [], set()
        for i, variant in idx.candidates(text, one_off):
            if i in seen or i in tried:
                continue
            tried.add(i)
            plate = unpack(int(idx.plate[i]))
            if len(variant) != len(text):
                rule = "extra-character" if len(variant) < len(text) else "missing-character"
                differs = _differs(text, plate)
                if sum(a != b for a, b in zip(variant, plate)) > self.max_substitutions:
                    continue
            else:
                differs = tuple(k for k, (a, b) in enumerate(zip(text, plate)) if a != b)
                if len(differs) > self.max_substitutions:
                    continue
                rule = "exact" if not differs else "look-alike"
            expires = float(idx.meta[i]["expires"])
            if expires and expires <= now:
                continue
            entry_state = idx.states[idx.state[i]] or None
            if entry_state is None:
                state_rule = "entry-any-state"
            elif state is None:
                state_rule = "read-state-unknown"
            elif state == entry_state:
                state_rule = "same"
            else:
                if self.state_mismatch == "ignore":
                    continue
                state_rule = "state-mismatch"
            seen.add(i)
            out.append(Match(idx.entry(i), rule, differs, state_rule))
        return out


def _differs(read: str, plate: str) -> tuple[int, ...]:
    """Positions in the read that differ from the entry: every one where the two are as
    long, else the first (a character lost or added there)."""
    if len(read) == len(plate):
        return tuple(k for k, (a, b) in enumerate(zip(read, plate)) if a != b)
    return (
        next(
            (k for k in range(min(len(read), len(plate))) if read[k] != plate[k]),
            min(len(read), len(plate)),
        ),
    )
