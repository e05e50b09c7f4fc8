"""The hotlist as a CSV file (a local list, or HQ's input); any malformed row rejects the whole
file, so a list is never half-applied. HQ reads it too: it imports nothing of the matcher."""

from __future__ import annotations

import csv
from pathlib import Path

from alprd.types import LIST_TYPES, HotlistEntry

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
        entries.append(
            HotlistEntry(
                plate=plate,
                state=(row.get("state") or "").strip().upper() or None,
                list_type=list_type,
                source=str(path),
                reason=(row.get("reason") or "").strip(),
                priority=priority,
                case_number=(row.get("case_number") or "").strip() or None,
            )
        )
    return entries
