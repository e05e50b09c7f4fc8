"""UTC timestamps for reads: the system clock when it is set, else GPS time.

A Raspberry Pi has no RTC: until NTP or GPS sets it, the system clock starts near the image's
build date. time.monotonic() measures intervals; UTC is data, recorded with its source.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

SANE_AFTER = datetime(2025, 1, 1, tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_for(mono: float, gps_utc: str | None = None, gps_utc_mono: float | None = None,
            now_mono: float | None = None) -> tuple[str, str]:
    """(ISO UTC, source) for an event that happened at monotonic time mono."""
    now_mono = time.monotonic() if now_mono is None else now_mono
    system = datetime.now(timezone.utc) - timedelta(seconds=now_mono - mono)
    if system >= SANE_AFTER:
        return iso(system), "system"
    if gps_utc and gps_utc_mono is not None:
        try:
            base = datetime.fromisoformat(gps_utc.replace("Z", "+00:00"))
        except ValueError:
            base = None
        if base is not None:
            return iso(base + timedelta(seconds=mono - gps_utc_mono)), "gps"
    return iso(system), "system-unset"
