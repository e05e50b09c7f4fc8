"""NMEA 0183 parsing: RMC, GGA, VTG and GSA from any talker, checksums verified.

Proprietary sentences ($P...: Trimble's $PTNL, Septentrio's $PSSN, Furuno's $PFEC) parse as
talker "P"; nobody here reads them. Every number has the range NMEA 0183 gives it, and a
value outside it refuses the sentence: positions outside the globe, non-finite numbers, a fix
quality of 99999999999999999999 (which once stopped the car: SQLite's INTEGER is 64 bits),
so nothing out of range ever reaches a fix, the database or HQ. Times and dates must name a
real instant."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

# the ranges NMEA 0183 (4.11) gives each field we read
MAX_QUALITY = 8  # GGA fix quality: 0 none ... 6 estimated, 7 manual, 8 simulator
MAX_SATELLITES = 99  # GGA: two digits (a multi-constellation receiver may pass 12)
MAX_DOP = 99.99  # dilution of precision: 99.99 means no geometry
MAX_KNOTS = 1000.0  # far above any road; a receiver's own limit is about 1,000 knots (COCOM)


class NmeaError(ValueError):
    """A sentence that cannot be used; the message names the sentence and the field."""


@dataclass(frozen=True)
class Sentence:
    talker: str
    kind: str
    fields: tuple[str, ...]


def parse_sentence(line: str) -> Sentence:
    line = line.strip()
    if not line.startswith("$"):
        raise NmeaError(f"not an NMEA sentence: {line[:20]!r}")
    body, star, given = line[1:].partition("*")
    if not star:
        raise NmeaError(f"{body[:5]}: no checksum")
    want = checksum(body)
    try:
        got = int(given[:2], 16)
    except ValueError as exc:
        raise NmeaError(f"{body[:5]}: bad checksum field {given!r}") from exc
    if got != want:
        raise NmeaError(f"{body[:5]}: checksum {got:02X} != computed {want:02X}")
    parts = body.split(",")
    addr = parts[0]
    if addr[:1] == "P" and len(addr) >= 2 and addr.isalnum():
        return Sentence("P", addr[1:], tuple(parts[1:]))
    if len(addr) < 5 or not addr.isalnum():
        raise NmeaError(f"bad address field {addr!r}")
    return Sentence(addr[:-3], addr[-3:], tuple(parts[1:]))


def address(line: str) -> str | None:
    """The address field of something shaped like a sentence ("GPRMC", "PTNL"), else None."""
    line = line.strip()
    if not line.startswith("$"):
        return None
    addr = line[1:].split(",", 1)[0].split("*", 1)[0]
    return addr if addr.isalnum() and addr.isascii() else None


def is_parsed(addr: str) -> bool:
    """Whether a sentence with this address is one we read (so its damage is worth counting)."""
    return not addr.startswith("P") and addr[-3:] in PARSERS


def _coord(value: str, hemi: str, deg_digits: int, what: str, kind: str) -> float | None:
    if not value:
        return None
    try:
        deg = int(value[:deg_digits])
        minutes = float(value[deg_digits:])
    except ValueError as exc:
        raise NmeaError(f"{kind}: bad {what} {value!r}") from exc
    limit = 90 if deg_digits == 2 else 180
    if not (math.isfinite(minutes) and 0 <= minutes < 60 and 0 <= deg):
        raise NmeaError(f"{kind}: bad {what} {value!r}")
    v = deg + minutes / 60.0
    if v > limit:
        raise NmeaError(f"{kind}: {what} {value!r} is off the globe")
    if hemi in ("S", "W"):
        v = -v
    elif hemi not in ("N", "E"):
        raise NmeaError(f"{kind}: bad {what} hemisphere {hemi!r}")
    return v


def _float(value: str, what: str, kind: str, hi: float) -> float | None:
    """An optional decimal in [0, hi]."""
    if not value:
        return None
    try:
        v = float(value) if len(value) <= 16 and value.isascii() else math.nan
    except ValueError as exc:
        raise NmeaError(f"{kind}: bad {what} {value!r}") from exc
    if not (math.isfinite(v) and 0 <= v <= hi):
        raise NmeaError(f"{kind}: {what} {value[:20]!r} is out of range (0-{hi:g})")
    return v


def _int(value: str, what: str, kind: str, hi: int) -> int | None:
    """An optional whole number in [0, hi] (ASCII digits only: '²'.isdigit() is true)."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 4 and int(value) <= hi):
        raise NmeaError(f"{kind}: {what} {value[:20]!r} is out of range (0-{hi})")
    return int(value)


def _utc(t: str, date: str) -> str | None:
    """ISO UTC from RMC's hhmmss[.ss] and ddmmyy; None when either is absent; NmeaError when
    they do not name a real instant (hour 99, 31 February)."""
    if not t or not date:
        return None
    frac = t[6:]
    digits = t[:6] + date + frac[1:]
    try:
        if not (
            len(t) >= 6
            and len(date) == 6
            and digits.isascii()
            and digits.isdigit()
            and (not frac or (frac[0] == "." and 1 < len(frac) <= 4))
        ):
            raise ValueError
        datetime(
            2000 + int(date[4:6]),
            int(date[2:4]),
            int(date[0:2]),
            int(t[0:2]),
            int(t[2:4]),
            int(t[4:6]),
        )
    except ValueError:
        raise NmeaError(f"RMC: time {t[:12]!r} and date {date[:8]!r} are not an instant") from None
    return f"20{date[4:6]}-{date[2:4]}-{date[0:2]}T{t[0:2]}:{t[2:4]}:{t[4:6]}{frac}Z"


def _field(s: Sentence, i: int) -> str:
    return s.fields[i] if i < len(s.fields) else ""


def rmc(s: Sentence) -> dict[str, Any]:
    """time, status, lat, lon, speed (km/h), course, date -> dict (utc ISO when both present)."""
    if len(s.fields) < 9:
        raise NmeaError(f"RMC: {len(s.fields)} fields, need 9")
    t, status, date = _field(s, 0), _field(s, 1), _field(s, 8)
    out: dict[str, Any] = {
        "valid": status == "A",
        "lat": _coord(_field(s, 2), _field(s, 3), 2, "latitude", "RMC"),
        "lon": _coord(_field(s, 4), _field(s, 5), 3, "longitude", "RMC"),
    }
    knots = _float(_field(s, 6), "speed", "RMC", MAX_KNOTS)
    out["speed_kmh"] = knots * 1.852 if knots is not None else None
    out["course"] = _float(_field(s, 7), "course", "RMC", 360)
    out["time"] = t
    utc = _utc(t, date)
    if utc:
        out["utc"] = utc
    return out


def gga(s: Sentence) -> dict[str, Any]:
    if len(s.fields) < 8:
        raise NmeaError(f"GGA: {len(s.fields)} fields, need 8")
    return {
        "time": _field(s, 0),
        "lat": _coord(_field(s, 1), _field(s, 2), 2, "latitude", "GGA"),
        "lon": _coord(_field(s, 3), _field(s, 4), 3, "longitude", "GGA"),
        "quality": _int(_field(s, 5), "fix quality", "GGA", MAX_QUALITY) or 0,
        "satellites": _int(_field(s, 6), "satellite count", "GGA", MAX_SATELLITES),
        "hdop": _float(_field(s, 7), "HDOP", "GGA", MAX_DOP),
    }


def vtg(s: Sentence) -> dict[str, Any]:
    return {
        "course": _float(_field(s, 0), "course", "VTG", 360),
        "speed_kmh": _float(_field(s, 6), "speed", "VTG", MAX_KNOTS * 1.852),
    }


def gsa(s: Sentence) -> dict[str, Any]:
    return {
        "fix_type": _int(_field(s, 1), "fix type", "GSA", 3) or 1,
        "hdop": _float(_field(s, 15), "HDOP", "GSA", MAX_DOP),
    }


PARSERS = {"RMC": rmc, "GGA": gga, "VTG": vtg, "GSA": gsa}


def checksum(body: str) -> int:
    """NMEA's checksum: the XOR of the characters between '$' and '*'."""
    c = 0
    for ch in body:
        c ^= ord(ch)
    return c


def checksummed(body: str) -> str:
    """The sentence with its '$' and checksum."""
    return f"${body}*{checksum(body):02X}"


def retimed(log: bytes, start: datetime, repeat: int = 1) -> bytes:
    """A recorded log moved in time so that its first RMC is at start (UTC), each RMC and
    GGA re-stamped and re-checksummed; with repeat, the drive is replayed that many times
    back to back, time running on. Other sentences are copied as they are. For replaying a
    recording as if it were live (the demo), and for tests that need GPS time near now."""
    lines = [ln.decode("ascii", "replace").strip() for ln in log.splitlines()]
    stamps: list[tuple[Any, ...] | None] = []  # ("RMC", datetime) or ("GGA", time of day)
    for text in lines:  # the recorded time of each RMC and GGA (GGA: the nearby RMC's date)
        f = text[1:].split("*")[0].split(",") if text.startswith("$") else []
        kind = f[0][-3:] if f else ""
        t = None
        try:
            if kind == "RMC" and len(f) > 9 and len(f[9]) == 6:
                t = datetime.strptime(f[9] + f[1][:6], "%d%m%y%H%M%S").replace(tzinfo=timezone.utc)
            elif kind == "GGA" and len(f) > 1 and len(f[1]) >= 6:
                tod = datetime.strptime(f[1][:6], "%H%M%S").time()
                stamps.append(("GGA", tod))  # resolved below, once an RMC gives the date
                continue
        except ValueError:
            t = None
        stamps.append(("RMC", t) if t else None)
    rmcs = [s[1] for s in stamps if s and s[0] == "RMC"]
    if not rmcs:
        raise ValueError("no RMC with a date in the log: cannot re-time it")
    first, span = rmcs[0], (rmcs[-1] - rmcs[0]) + timedelta(seconds=1)
    out = []
    for k in range(repeat):
        shift = start - first + k * span
        date_of = first
        for text, st in zip(lines, stamps):
            if not text:
                continue
            if st is None:
                out.append(text)
                continue
            kind, t = st
            f = text[1:].split("*")[0].split(",")
            if kind == "RMC":
                date_of = t
            else:
                t = datetime.combine(date_of.date(), t, tzinfo=timezone.utc)
                if (date_of - t).total_seconds() > 43200:
                    t += timedelta(days=1)  # GGA of the next day, before its RMC
            new = t + shift
            frac = f[1][6:]
            f[1] = new.strftime("%H%M%S") + frac
            if kind == "RMC":
                f[9] = new.strftime("%d%m%y")
            out.append(checksummed(",".join(f)))
    return ("\r\n".join(out) + "\r\n").encode()
