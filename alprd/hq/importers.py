"""HQ-side hotlist importers: an NCIC-style extract and a CA DOJ CLEW-style CSV.

Both are representative layouts (samples in docs/hotlist-samples/; columns in
docs/protocol.md); an agency with another layout adds a parser here. A malformed row is
reported with its line number and skipped; a file that cannot be read as a whole (missing
header, unreadable, empty) is refused and nothing is published, so a list is never
half-applied.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from alprd.hotlist.csvfile import normalise
from alprd.types import HotlistEntry

NCIC_MKE = {
    "EV": "stolen_vehicle",
    "EL": "stolen_plate",
    "EW": "wanted_person",
    "EM": "missing_person",
    "EMA": "amber",
}
CLEW_TYPES = {
    "STOLEN VEHICLE": "stolen_vehicle",
    "STOLEN PLATE": "stolen_plate",
    "WANTED PERSON": "wanted_person",
    "MISSING PERSON": "missing_person",
    "AMBER ALERT": "amber",
    "BOLO": "bolo",
    "AGENCY": "agency",
}
CLEW_COLUMNS = (
    "PLATE",
    "STATE",
    "HIT_TYPE",
    "NCIC_NUMBER",
    "ENTRY_DATE",
    "EXPIRATION",
    "AGENCY",
    "NOTES",
)


class ImportRefused(Exception):
    """The file as a whole cannot be used; nothing from it is published."""


@dataclass
class ImportResult:
    entries: list[HotlistEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "line N: reason", one per skipped row


def _plate(value: str) -> str:
    plate = normalise(value)
    if not 2 <= len(plate) <= 8:
        raise ValueError(f"bad plate {value!r}")
    return plate


def _date(value: str, what: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    for fmt in ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    raise ValueError(f"bad {what} {value!r}")


def _times(
    entered_text: str, entered_name: str, expires_text: str, expires_name: str
) -> tuple[str, float]:
    """(entered_utc ISO or "", expires epoch seconds or 0) from the file's date fields."""
    entered = _date(entered_text, entered_name)
    expires = _date(expires_text, expires_name)
    return (entered.isoformat() if entered else "", expires.timestamp() if expires else 0.0)


def _checked(result: ImportResult, path: Path) -> ImportResult:
    """A file with rejects but not one usable row is refused whole."""
    if not result.entries and result.errors:
        raise ImportRefused(f"{path}: no usable row ({result.errors[0]})")
    return result


def _read(path: Path) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportRefused(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        raise ImportRefused(f"{path} is empty")
    return text


def parse_ncic(path: Path) -> ImportResult:
    """Lines of `KEY/VALUE.` fields, e.g.
    MKE/EV.ORI/CA0194200.LIC/8XYZ442.LIS/CA.LIY/2027.LIT/PC.NIC/V123456789.DTE/20261101.
    """
    result = ImportResult()
    for n, line in enumerate(_read(path).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields = {}
            for part in line.rstrip(".").split("."):
                key, sep, value = part.partition("/")
                if not sep:
                    raise ValueError(f"field {part!r} has no KEY/")
                fields[key.strip().upper()] = value.strip()
            mke = fields.get("MKE", "")
            if mke not in NCIC_MKE:
                raise ValueError(f"unknown message key MKE/{mke}")
            entered, expires = _times(fields.get("DTE", ""), "DTE", fields.get("EXP", ""), "EXP")
            result.entries.append(
                HotlistEntry(
                    plate=_plate(fields.get("LIC", "")),
                    state=fields.get("LIS") or None,
                    list_type=NCIC_MKE[mke],
                    reason=fields.get("MIS", "") or NCIC_MKE[mke].replace("_", " "),
                    priority=1,
                    case_number=fields.get("NIC") or None,
                    source="NCIC",
                    entered_utc=entered,
                    expires=expires,
                )
            )
        except ValueError as exc:
            result.errors.append(f"line {n}: {exc}")
    return _checked(result, path)


def parse_clew(path: Path) -> ImportResult:
    """CSV with the header PLATE,STATE,HIT_TYPE,NCIC_NUMBER,ENTRY_DATE,EXPIRATION,AGENCY,NOTES."""
    result = ImportResult()
    rows = csv.DictReader(io.StringIO(_read(path)))
    missing = set(CLEW_COLUMNS) - set(rows.fieldnames or ())
    if missing:
        raise ImportRefused(f"{path}: header lacks {', '.join(sorted(missing))}")
    for row in rows:
        n = rows.line_num
        try:
            if None in row:
                raise ValueError("more fields than the header")
            kind = CLEW_TYPES.get((row["HIT_TYPE"] or "").strip().upper())
            if kind is None:
                raise ValueError(f"unknown HIT_TYPE {row['HIT_TYPE']!r}")
            entered, expires = _times(
                row["ENTRY_DATE"] or "", "ENTRY_DATE", row["EXPIRATION"] or "", "EXPIRATION"
            )
            result.entries.append(
                HotlistEntry(
                    plate=_plate(row["PLATE"] or ""),
                    state=(row["STATE"] or "").strip().upper() or None,
                    list_type=kind,
                    reason=(row["NOTES"] or "").strip() or row["HIT_TYPE"],
                    priority=1 if kind in ("amber", "wanted_person") else 2,
                    case_number=(row["NCIC_NUMBER"] or "").strip() or None,
                    source=f"CLEW/{(row['AGENCY'] or '').strip()}",
                    entered_utc=entered,
                    expires=expires,
                )
            )
        except ValueError as exc:
            result.errors.append(f"line {n}: {exc}")
    return _checked(result, path)


PARSERS = {"ncic": parse_ncic, "clew": parse_clew}
