"""UTC timestamps for reads: the system clock when it can be trusted, else GPS time.

A Raspberry Pi has no RTC: until NTP or GPS sets it, the system clock starts near the image's
build date, or (with fake-hwclock) at the time saved before the last shutdown, which is in
the past but looks plausible. So the system clock is trusted only when
- it is after SANE_AFTER (not an unset clock), and
- the GPS, when the car has its time, agrees within margin_s; or, with no GPS time, it is not
  earlier than the last time this car recorded (the floor, kept on disk across restarts).
Otherwise GPS time (its last sentence plus the monotonic time since) is used, with source
"gps"; with neither, the system time is kept and marked "system-unset". A GPS-confirmed clock
may move the floor back (the floor was set by a clock that ran ahead); an unconfirmed one never
does. time.monotonic() measures intervals; UTC is data, recorded with its source.

GPS time is trusted only when it is plausible (#32 item 3): not before SANE_AFTER (a receiver
with the week-number rollover bug reports 1024 weeks back, 2007 for 2026), and not more than
GPS_LEAD_MAX ahead of the best time the car otherwise has (a sane system clock, the floor): a
spoofer or a broken receiver's 2099 would otherwise become every read's time and the floor.
An implausible GPS time is ignored, said once in the log, as if the receiver gave none.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from alprd.files import replace_atomically

log = logging.getLogger(__name__)

SANE_AFTER = datetime(2025, 1, 1, tzinfo=timezone.utc)
FLOOR_SLACK_S = 2.0  # the floor is saved a little late; this much earlier is still fine
# how far GPS time may run ahead of the system clock or the floor: a Pi with fake-hwclock
# starts at the time it was switched off, so a car parked for months is that far behind
GPS_LEAD_MAX = timedelta(days=366)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class UtcClock:
    """Stamps events (given on the monotonic clock) with UTC and the source of that time."""

    def __init__(
        self,
        floor_path: Path | None = None,
        margin_s: float = 60.0,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        mono: Callable[[], float] = time.monotonic,
        save_every_s: float = 60.0,
    ) -> None:
        self.floor_path, self.margin_s = floor_path, margin_s
        self.now, self.mono, self.save_every_s = now, mono, save_every_s
        self._lock = threading.Lock()
        self.floor = self._load()
        self._saved_floor, self._saved_mono = self.floor, mono()
        self.distrusted: str | None = None  # why the system clock is not used, for the log
        self.gps_refused: str | None = None  # why GPS time is not used, for the log

    def stamp(
        self, mono: float, gps_utc: str | None = None, gps_utc_mono: float | None = None
    ) -> tuple[str, str]:
        """(ISO UTC, source) for an event that happened at monotonic time mono."""
        now_mono = self.mono()
        system = self.now() - timedelta(seconds=now_mono - mono)
        base = parse(gps_utc) if gps_utc_mono is not None else None
        gps = (
            base + timedelta(seconds=mono - gps_utc_mono)
            if base is not None and gps_utc_mono is not None
            else None
        )
        gps = self._plausible(gps, system)
        why = None
        if system < SANE_AFTER:
            why = f"system clock {iso(system)} is unset"
        elif gps is not None and abs((system - gps).total_seconds()) > self.margin_s:
            why = f"system clock {iso(system)} disagrees with GPS {iso(gps)}"
        elif gps is None and self.floor and system < self.floor - timedelta(seconds=FLOOR_SLACK_S):
            why = f"system clock {iso(system)} is before this car's last record {iso(self.floor)}"
        if why != self.distrusted:
            (log.warning if why else log.info)("clock: %s", why or "system clock trusted again")
            self.distrusted = why
        if why is None:
            self._record(system, confirmed=gps is not None)
            return iso(system), "system"
        if gps is not None:
            self._record(gps, confirmed=True)
            return iso(gps), "gps"
        return iso(system), "system-unset"

    def _plausible(self, gps: datetime | None, system: datetime) -> datetime | None:
        """GPS time, or None when it cannot be true (see the module's docstring)."""
        why = None
        if gps is not None:
            known = [t for t in (system if system >= SANE_AFTER else None, self.floor) if t]
            if gps < SANE_AFTER:
                why = (
                    f"GPS time {iso(gps)} is before {SANE_AFTER.year} (a receiver with the "
                    "week-number rollover bug?)"
                )
            elif known and gps > max(known) + GPS_LEAD_MAX:
                why = (
                    f"GPS time {iso(gps)} is more than {GPS_LEAD_MAX.days} days ahead of "
                    f"{iso(max(known))} (spoofed, or a broken receiver?)"
                )
        if why != self.gps_refused:
            (log.warning if why else log.info)(
                "clock: %s", (why + "; ignored") if why else "GPS time plausible again"
            )
            self.gps_refused = why
        return None if why else gps

    def _record(self, t: datetime, confirmed: bool) -> None:
        with self._lock:
            if self.floor is None or t > self.floor or confirmed:
                self.floor = t
        if self.mono() - self._saved_mono >= self.save_every_s:
            self.save()

    def save(self) -> None:
        """Write the floor (the daemon calls this at a clean stop, and stamp() every minute)."""
        self._saved_mono = self.mono()
        with self._lock:
            floor = self.floor
        if self.floor_path is None or floor is None or floor == self._saved_floor:
            return
        try:
            replace_atomically(self.floor_path, (iso(floor) + "\n").encode(), mode=0o600)
            self._saved_floor = floor
        except OSError as exc:
            log.error("clock: cannot save the last recorded time to %s (%s)", self.floor_path, exc)

    def _load(self) -> datetime | None:
        if self.floor_path is None or not self.floor_path.exists():
            return None
        try:
            floor = parse(self.floor_path.read_text())
        except OSError as exc:
            log.error("clock: cannot read %s (%s)", self.floor_path, exc)
            return None
        if floor is None:
            log.error("clock: %s does not hold a time; ignored", self.floor_path)
        return floor


def span(seconds: float | None) -> str:
    """A length of time as people read it: '45 s', '12 min', '5 h', '3 d'; '-' for none (the
    car's health strip and HQ's fleet view say durations alike)."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} d"
