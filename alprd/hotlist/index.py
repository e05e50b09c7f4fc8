"""A compact hotlist index for millions of entries, with look-alike matching in microseconds.

Every plate is packed into one int64 (6 bits a character, up to 9 characters, plus the
length). Look-alike characters (O/0/D/Q, B/8, ...) are folded to one representative first, so
all plates one OCR confusion apart share a folded key: one binary search over a sorted array
finds every candidate, and the candidates are then checked character by character. Entries
live in numpy arrays (about 30 bytes each) plus one blob of their text fields; an update builds
a new index beside the old one and swaps a single reference, so matching never waits.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from alprd.types import LIST_TYPES, HotlistEntry

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CODE = {ch: i + 1 for i, ch in enumerate(ALPHABET)}  # 0 = no character
MAX_LEN = 9  # 8-character plates plus one inserted character; 58 bits in all
# The look-alike classes matched by default: O/0 and I/1 only. States do not issue O or I in
# most serials, so these cost almost no false alerts; every other class below raised alert
# recall by at most one plate of us_e2e_dev or us_plate_crops and cost up to 1.2 false
# alerts per 1,000 reads each against a realistic 2 M list (all eleven: 4-5 per 1,000). The
# readers' own doubts (n-best candidates, recognize/nbest.py) cover those characters where
# they are unsure instead (#34; bench/alerts.py; README.md, "Alerts").
DEFAULT_CONFUSIONS = ("O0", "I1")
WIDE_CONFUSIONS = ("O0DQ", "B8", "I1LT", "S5", "Z2", "G6", "UV", "A4", "E3", "KX", "MN")
SEP = "\x1f"


def fold_table(confusions: Iterable[str]) -> dict[str, str]:
    """Each character to its class representative; overlapping sets are merged."""
    parent = {ch: ch for ch in ALPHABET}

    def find(c: str) -> str:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for chars in confusions:
        group = [c for c in chars.upper() if c in parent]
        for c in group[1:]:
            a, b = find(group[0]), find(c)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {ch: find(ch) for ch in ALPHABET}


def pack(text: str, fold: dict[str, str] | None = None) -> int:
    """A plate as one int: length in the top bits, then 6 bits a character."""
    key = len(text)
    for ch in text:
        key = (key << 6) | CODE[fold[ch] if fold else ch]
    return key << (6 * (MAX_LEN - len(text)))


def unpack(key: int) -> str:
    n = key >> (6 * MAX_LEN)
    out = []
    for i in range(n):
        code = (key >> (6 * (MAX_LEN - 1 - i))) & 63
        out.append(ALPHABET[code - 1])
    return "".join(out)


Entry = HotlistEntry


META = [("list_type", "u1"), ("priority", "u1"), ("expires", "f8")]


def _meta(entries: Sequence[HotlistEntry]) -> np.ndarray:
    meta = np.empty(len(entries), META)
    for i, e in enumerate(entries):
        meta[i] = (LIST_TYPES.index(e.list_type), e.priority, e.expires)
    return meta


_CONTROL = {c: " " for c in [*range(0x20), 0x7F]}  # SEP (0x1f) among them


def _detail(e: Entry) -> str:
    """The fields many entries share (reason, source, entry time): stored once each, joined
    by SEP. Control characters become spaces: they have no place on the officer's screen,
    and a SEP inside a field would break every match on that plate."""
    return SEP.join(str(f).translate(_CONTROL) for f in (e.reason, e.source, e.entered_utc))


CHUNK = 1 << 18  # array work is done in slices this long, so that no single numpy call
# holds the interpreter for more than about a millisecond while another thread matches


def _masked(a: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """a[keep], in slices."""
    if keep.all():
        return a
    return np.concatenate(
        [a[s : s + CHUNK][keep[s : s + CHUNK]] for s in range(0, len(a), CHUNK)] or [a[:0]]
    )


def _merge(old: np.ndarray, at: np.ndarray, new: np.ndarray) -> np.ndarray:
    """np.insert(old, at, new) for sorted positions at, in slices."""
    total = len(old) + len(new)
    out = np.empty(total, old.dtype)
    dest = at + np.arange(len(new))
    is_new = np.zeros(total, bool)
    is_new[dest] = True
    out[dest] = new
    taken = 0
    for s in range(0, total, CHUNK):
        slot = ~is_new[s : s + CHUNK]
        n = int(slot.sum())
        out[s : s + CHUNK][slot] = old[taken : taken + n]
        taken += n
    return out


class Index:
    """An immutable snapshot of the list, sorted by folded key; build a new one to change it.

    Case numbers live in append-only chunks of bytes; rows point into them (toff = chunk << 40
    | offset, tlen); the fields entries share (reason, source, entry time) are interned in an
    append-only table (detail). An update adds one chunk and permutes only fixed-size arrays:
    no step holds the interpreter long enough to stall matching in another thread."""

    def __init__(
        self,
        fkey: np.ndarray,
        plate: np.ndarray,
        state: np.ndarray,
        meta: np.ndarray,
        toff: np.ndarray,
        tlen: np.ndarray,
        detail: np.ndarray,
        chunks: Iterable[bytes],
        details: list[str],
        states: list[str],
        fold: dict[str, str],
        version: int = 0,
    ) -> None:
        self.fkey, self.plate, self.state, self.meta = fkey, plate, state, meta
        self.toff, self.tlen, self.detail, self.chunks = toff, tlen, detail, tuple(chunks)
        self.details = details  # append-only list shared by successive indexes
        self._detail_code = {d: i for i, d in enumerate(details)} if details else {}
        self.states, self.fold, self.version = states, fold, version

    def __len__(self) -> int:
        return len(self.fkey)

    # -- building -----------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        entries: Iterable[HotlistEntry],
        confusions: Iterable[str] = DEFAULT_CONFUSIONS,
        version: int = 0,
    ) -> Index:
        empty = cls(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty(0, np.uint16),
            np.empty(0, META),
            np.empty(0, np.int64),
            np.empty(0, np.int32),
            np.empty(0, np.uint32),
            (),
            [],
            [""],
            fold_table(confusions),
            version,
        )
        return empty.with_changes(list(entries), [], version)

    def _state_codes(self, entries: Sequence[HotlistEntry]) -> tuple[np.ndarray, list[str]]:
        states = list(self.states)
        code = {s: i for i, s in enumerate(states)}
        out = np.empty(len(entries), np.uint16)
        for i, e in enumerate(entries):
            st = e.state or ""
            if st not in code:
                code[st] = len(states)
                states.append(st)
            out[i] = code[st]
        return out, states

    def with_changes(
        self, add: list[Entry], remove: list[tuple[str, str | None]], version: int
    ) -> "Index":
        """A new index: this one minus `remove` (plate, state; state None = every state) plus
        `add` (an added plate and state replaces the entry it had)."""
        keep = np.ones(len(self), bool)
        targets = list(remove) + [(e.plate, e.state or "") for e in add] if len(self) else []
        if targets:
            exact = np.fromiter((pack(p) for p, _ in targets), np.int64, len(targets))
            folded = np.fromiter((pack(p, self.fold) for p, _ in targets), np.int64, len(targets))
            lo = np.searchsorted(self.fkey, folded, "left")
            hi = np.searchsorted(self.fkey, folded, "right")
            state_code = {st: i for i, st in enumerate(self.states)}
            for (_, st), ex, a, b in zip(targets, exact.tolist(), lo.tolist(), hi.tolist()):
                if a == b:
                    continue
                rows = np.arange(a, b)[self.plate[a:b] == ex]
                if st is not None:
                    if st not in state_code:
                        continue  # no entry has this state
                    rows = rows[self.state[rows] == state_code[st]]
                keep[rows] = False
        n_add = len(add)
        fkey = np.fromiter((pack(e.plate, self.fold) for e in add), np.int64, n_add)
        plate = np.fromiter((pack(e.plate) for e in add), np.int64, n_add)
        state, states = self._state_codes(add)
        texts = [(e.case_number or "").encode() for e in add]
        details, code = self.details, self._detail_code
        detail = np.empty(n_add, np.uint32)
        for i, e in enumerate(add):
            d = _detail(e)
            c = code.get(d)
            if c is None:
                c = code[d] = len(details)
                details.append(d)
            detail[i] = c
        tlen = np.fromiter((len(t) for t in texts), np.int32, n_add)
        toff = np.zeros(n_add, np.int64)
        if n_add:
            np.cumsum(tlen[:-1], out=toff[1:])
        toff |= len(self.chunks) << 40
        order = np.argsort(fkey, kind="stable")
        arrays_old = (
            self.fkey,
            self.plate,
            self.state,
            self.meta,
            self.toff,
            self.tlen,
            self.detail,
        )
        arrays_new: tuple[np.ndarray, ...] = (fkey, plate, state, _meta(add), toff, tlen, detail)
        kept = [_masked(a, keep) for a in arrays_old]
        at = np.searchsorted(kept[0], fkey[order])
        merged = [_merge(k, at, n[order]) for k, n in zip(kept, arrays_new)]
        m_fkey, m_plate, m_state, m_meta, m_toff, m_tlen, m_detail = merged
        new = Index(
            m_fkey,
            m_plate,
            m_state,
            m_meta,
            m_toff,
            m_tlen,
            m_detail,
            self.chunks + (b"".join(texts),),
            details,
            states,
            self.fold,
            version,
        )
        new._detail_code = code
        return new

    @property
    def nbytes(self) -> int:
        arrays = (self.fkey, self.plate, self.state, self.meta, self.toff, self.tlen, self.detail)
        return int(
            sum(a.nbytes for a in arrays)
            + sum(len(c) for c in self.chunks)
            + sum(len(d) + 50 for d in self.details)
        )

    # -- persistence --------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The index as one .npz (texts compacted into one chunk), for a fast load."""
        texts, tlen = [], self.tlen
        for i in range(len(self)):
            chunk, off = divmod(int(self.toff[i]), 1 << 40)
            texts.append(self.chunks[chunk][off : off + int(tlen[i])])
        toff = np.zeros(len(self), np.int64)
        if len(self):
            np.cumsum(tlen[:-1], out=toff[1:])
        fold = "".join(self.fold[c] for c in ALPHABET)
        f = io.BytesIO()
        np.savez(
            f,
            fkey=self.fkey,
            plate=self.plate,
            state=self.state,
            meta=self.meta,
            toff=toff,
            tlen=tlen,
            detail=self.detail,
            details=np.array(
                self.details[: int(self.detail.max()) + 1 if len(self) else 0], dtype=str
            ),
            blob=np.frombuffer(b"".join(texts), np.uint8),
            states=np.array(self.states),
            fold=np.array(fold),
            version=np.array(self.version),
        )
        return f.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Index":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            fold = dict(zip(ALPHABET, str(z["fold"])))
            return cls(
                z["fkey"],
                z["plate"],
                z["state"],
                z["meta"],
                z["toff"],
                z["tlen"],
                z["detail"],
                (z["blob"].tobytes(),),
                [str(d) for d in z["details"]],
                [str(s) for s in z["states"]],
                fold,
                int(z["version"]),
            )

    def save(self, path: Path | str) -> None:
        """Written in clear (benchmarks, tests); the car seals it (hotlist.sync)."""
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: Path | str) -> Index:
        return cls.from_bytes(Path(path).read_bytes())

    # -- matching -----------------------------------------------------------------------
    def _range(self, key: int) -> tuple[int, int]:
        return (
            int(np.searchsorted(self.fkey, key, "left")),
            int(np.searchsorted(self.fkey, key, "right")),
        )

    def entry(self, i: int) -> Entry:
        chunk, off = divmod(int(self.toff[i]), 1 << 40)
        case = self.chunks[chunk][off : off + int(self.tlen[i])].decode()
        reason, source, entered = (self.details[int(self.detail[i])].split(SEP) + ["", ""])[:3]
        m = self.meta[i]
        return Entry(
            plate=unpack(int(self.plate[i])),
            state=self.states[self.state[i]] or None,
            list_type=LIST_TYPES[m["list_type"]],
            reason=reason,
            priority=int(m["priority"]),
            case_number=case or None,
            source=source,
            entered_utc=entered,
            expires=float(m["expires"]),
        )

    def candidates(self, text: str, one_off: bool) -> list[tuple[int, str]]:
        """(row, read-side variant) whose folded key matches the read or, with one_off, the
        read with one character removed or inserted."""
        fold = self.fold
        variants = [text]
        if one_off:
            variants += [text[:i] + text[i + 1 :] for i in range(len(text))]
            if len(text) < MAX_LEN - 1:
                reps = sorted(set(fold.values()))
                variants += [text[:i] + c + text[i:] for i in range(len(text) + 1) for c in reps]
        if len(variants) == 1:
            lo, hi = self._range(pack(text, fold))
            return [(i, text) for i in range(lo, hi)]
        keys = np.array([pack(v, fold) for v in variants], np.int64)
        los = np.searchsorted(self.fkey, keys, "left").tolist()
        his = np.searchsorted(self.fkey, keys, "right").tolist()
        out: list[tuple[int, str]] = []
        for v, a, b in zip(variants, los, his):
            out.extend((i, v) for i in range(a, b))
        return out
