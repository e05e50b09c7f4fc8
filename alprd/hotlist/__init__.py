"""The hotlist: entries from HQ, matched against each read.

This first version loads a CSV file and matches exactly on plate (and state where both are
known). Signed sync, cancellations and look-alike matching come with the hotlist issue.
"""
from __future__ import annotations

import csv
import logging
import threading
from pathlib import Path

from alprd.types import HotlistEntry

log = logging.getLogger(__name__)

LIST_TYPES = {"stolen_vehicle", "stolen_plate", "wanted_person", "missing_person", "amber",
              "bolo", "agency"}
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
                                    or None, list_type=list_type,
                                    reason=(row.get("reason") or "").strip(), priority=priority,
                                    case_number=(row.get("case_number") or "").strip() or None))
    return entries


class Hotlist:
    """An index by plate text; swapped whole, so matching never sees half a list."""

    def __init__(self, entries: list[HotlistEntry] | None = None) -> None:
        self._index: dict[str, list[HotlistEntry]] = {}
        self._lock = threading.Lock()
        if entries:
            self.replace(entries)

    def replace(self, entries: list[HotlistEntry]) -> None:
        index: dict[str, list[HotlistEntry]] = {}
        for e in entries:
            index.setdefault(e.plate, []).append(e)
        with self._lock:
            self._index = index

    def __len__(self) -> int:
        return sum(len(v) for v in self._index.values())

    def match(self, text: str, state: str | None = None) -> list[tuple[HotlistEntry, str]]:
        """Entries for this read, each with the rule that matched."""
        found = self._index.get(normalise(text), [])
        return [(e, "exact") for e in found
                if state is None or e.state is None or e.state == state]
