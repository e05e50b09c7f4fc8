"""The hotlist: entries from HQ, matched against each read, exactly and by look-alikes.

The list is loaded from a CSV file (signed sync from HQ comes with the hotlist issue's next
step); matching is alprd.hotlist.index.
"""
from __future__ import annotations

import csv
import logging
import threading
from pathlib import Path

from alprd.hotlist.index import DEFAULT_CONFUSIONS, LIST_TYPES, Index, Match, Matcher
from alprd.types import HotlistEntry

log = logging.getLogger(__name__)

COLUMNS = ("plate", "state", "list_type", "reason", "priority", "case_number")


class HotlistError(Exception):
    """A hotlist file that cannot be used; the previous list stays in force."""


def normalise(plate: str) -> str:
    return "".join(ch for ch in plate.upper() if ch.isalnum())


def read_csv(path: Path) -> list[HotlistEntry]:
    """Parse a hotlist CSV; any malformed row rejects the whole file (never half-applied)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise HotlistError(f"cannot read hotlist {path}: {exc.strerror}") from exc
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    if rows.fieldnames is None or set(COLUMNS[:4]) - set(rows.fieldnames):
        raise HotlistError(f"{path}: header must include {', '.join(COLUMNS[:4])}")
    entries = []
    for n, row in enumerate(rows, 2):
        plate = normalise(row.get("plate") or "")
        list_type = (row.get("list_type") or "").strip().lower()
        if not 2 <= len(plate) <= 8:
            raise HotlistError(f"{path}: row {n}: bad plate {row.get('plate')!r}")
        if list_type not in LIST_TYPES:
            raise HotlistError(f"{path}: row {n}: unknown list_type {list_type!r}")
        try:
            priority = int(row.get("priority") or 1)
        except ValueError as exc:
            raise HotlistError(f"{path}: row {n}: bad priority {row.get('priority')!r}") from exc
        entries.append(HotlistEntry(plate=plate, state=(row.get("state") or "").strip().upper()
                                    or None, list_type=list_type, source=str(path),
                                    reason=(row.get("reason") or "").strip(), priority=priority,
                                    case_number=(row.get("case_number") or "").strip() or None))
    return entries


class Hotlist:
    """The vehicle's list and its matching rules; replace() swaps the whole list atomically."""

    def __init__(self, entries: list[HotlistEntry] | None = None, *, max_substitutions: int = 1,
                 one_off: bool = False, confusions=DEFAULT_CONFUSIONS,
                 state_mismatch: str = "alert", skip: tuple[str, ...] = ()) -> None:
        self.confusions = tuple(confusions)
        self.matcher = Matcher(Index.build([], self.confusions), max_substitutions, one_off,
                               state_mismatch, tuple(skip))
        if entries:
            self.replace(entries)

    @classmethod
    def from_config(cls, cfg) -> "Hotlist":
        return cls(max_substitutions=cfg.max_substitutions, one_off=cfg.one_off,
                   confusions=cfg.confusions, state_mismatch=cfg.state_mismatch,
                   skip=tuple(cfg.skip))

    def replace(self, entries: list[HotlistEntry], version: int = 0) -> None:
        self.matcher.swap(Index.build(entries, self.confusions, version))

    def __len__(self) -> int:
        return len(self.matcher.index)

    def match(self, text: str, state: str | None = None) -> list[Match]:
        """Entries this read hits, best first, each saying which rule matched."""
        return self.matcher.match(text, state)
