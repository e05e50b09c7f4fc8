"""NMEA 0183 parsing: RMC, GGA, VTG and GSA from any talker, checksums verified.

Proprietary sentences ($P...: Trimble's $PTNL, Septentrio's $PSSN, Furuno's $PFEC) parse as
talker "P"; nobody here reads them. Positions outside the globe and non-finite numbers are
refused, so a NaN never reaches a fix."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone


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


def _float(value: str, what: str, kind: str) -> float | None:
    if not value:
        return None
    try:
        v = float(value)
    except ValueError as exc:
        raise NmeaError(f"{kind}: bad {what} {value!r}") from exc
    if not math.isfinite(v):
        raise NmeaError(f"{kind}: bad {what} {value!r}")
    return v


def _field(s: Sentence, i: int) -> str:
    return s.fields[i] if i < len(s.fields) else ""


def rmc(s: Sentence) -> dict:
    """time, status, lat, lon, speed (km/h), course, date -> dict (utc ISO when both present)."""
    if len(s.fields) < 9:
        raise NmeaError(f"RMC: {len(s.fields)} fields, need 9")
    t, status, date = _field(s, 0), _field(s, 1), _field(s, 8)
    out = {"valid": status == "A",
           "lat": _coord(_field(s, 2), _field(s, 3), 2, "latitude", "RMC"),
           "lon": _coord(_field(s, 4), _field(s, 5), 3, "longitude", "RMC")}
    knots = _float(_field(s, 6), "speed", "RMC")
    out["speed_kmh"] = knots * 1.852 if knots is not None else None
    out["course"] = _float(_field(s, 7), "course", "RMC")
    out["time"] = t
    if len(t) >= 6 and len(date) == 6 and t[:6].isdigit() and date.isdigit():
        frac = t[6:] if len(t) > 6 else ""
        out["utc"] = (f"20{date[4:6]}-{date[2:4]}-{date[0:2]}T{t[0:2]}:{t[2:4]}:{t[4:6]}"
                      f"{frac}Z")
    return out


def gga(s: Sentence) -> dict:
    if len(s.fields) < 8:
        raise NmeaError(f"GGA: {len(s.fields)} fields, need 8")
    quality = _field(s, 5)
    sats = _field(s, 6)
    return {"time": _field(s, 0),
            "lat": _coord(_field(s, 1), _field(s, 2), 2, "latitude", "GGA"),
            "lon": _coord(_field(s, 3), _field(s, 4), 3, "longitude", "GGA"),
            "quality": int(quality) if quality.isdigit() else 0,
            "satellites": int(sats) if sats.isdigit() else None,
            "hdop": _float(_field(s, 7), "HDOP", "GGA")}


def vtg(s: Sentence) -> dict:
    return {"course": _float(_field(s, 0), "course", "VTG"),
            "speed_kmh": _float(_field(s, 6), "speed", "VTG")}


def gsa(s: Sentence) -> dict:
    mode = _field(s, 1)
    return {"fix_type": int(mode) if mode.isdigit() else 1,
            "hdop": _float(_field(s, 15), "HDOP", "GSA")}


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
    stamps: list[tuple | None] = []  # ("RMC", datetime) or ("GGA", time of day)
    for text in lines:  # the recorded time of each RMC and GGA (GGA: the nearby RMC's date)
        f = text[1:].split("*")[0].split(",") if text.startswith("$") else []
        kind = f[0][-3:] if f else ""
        t = None
        try:
            if kind == "RMC" and len(f) > 9 and len(f[9]) == 6:
                t = datetime.strptime(f[9] + f[1][:6], "%d%m%y%H%M%S").replace(
                    tzinfo=timezone.utc)
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
