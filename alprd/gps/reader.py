"""GPS: read NMEA from a serial port (or replay a log), keep recent fixes, interpolate.

A serial timeout is silence, not end of stream; a vanished device is reopened; a fix older
than stale_after_s (monotonic clock) is stale.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alprd.gps.nmea import PARSERS, NmeaError, address, is_parsed, parse_sentence, retimed
from alprd.types import Fix
from alprd.worker import Worker

if TYPE_CHECKING:
    from alprd.config import GpsConfig

log = logging.getLogger(__name__)


class GpsTrack:
    """Recent fixes on the monotonic clock; answers 'where were we at time t'."""

    @classmethod
    def from_config(cls, gps: GpsConfig) -> GpsTrack:
        return cls(gps.stale_after_s)

    def __init__(self, stale_after_s: float = 5.0, keep: int = 600) -> None:
        self.stale_after_s = stale_after_s
        self._fixes: deque[Fix] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.last_utc: str | None = None  # the receiver's latest time, valid fix or not
        self.last_utc_mono: float | None = None
        self.errors = 0

    def add(self, fix: Fix) -> None:
        with self._lock:
            if self._fixes and fix.mono < self._fixes[-1].mono:
                return
            self._fixes.append(fix)

    def latest(self) -> Fix | None:
        with self._lock:
            return self._fixes[-1] if self._fixes else None

    def is_stale(self, now: float | None = None) -> bool:
        f = self.latest()
        now = time.monotonic() if now is None else now
        return f is None or now - f.mono > self.stale_after_s

    def at(self, mono: float) -> Fix | None:
        """The position at a frame's time: interpolated between the fixes around it."""
        with self._lock:
            fixes = list(self._fixes)
        if not fixes:
            return None
        times = [f.mono for f in fixes]
        i = bisect.bisect_left(times, mono)
        if i == 0:
            f = fixes[0]
            return f if f.mono - mono <= self.stale_after_s else None
        if i == len(fixes):
            f = fixes[-1]
            return f if mono - f.mono <= self.stale_after_s else None
        a, b = fixes[i - 1], fixes[i]
        if b.mono - a.mono > self.stale_after_s:
            return a if mono - a.mono <= self.stale_after_s else None
        t = (mono - a.mono) / (b.mono - a.mono) if b.mono > a.mono else 0.0
        return Fix(
            lat=a.lat + (b.lat - a.lat) * t,
            lon=a.lon + (b.lon - a.lon) * t,
            mono=mono,
            utc=a.utc,
            quality=min(a.quality, b.quality),
            hdop=a.hdop,
            satellites=a.satellites,
            speed_kmh=a.speed_kmh,
            course=a.course,
        )


class FixBuilder:
    """Joins the sentences of one epoch into a Fix: RMC and GGA by their UTC time field, in
    whatever order the receiver sends them (u-blox sends RMC first, SiRF and Trimble GGA
    first); VTG and GSA, which carry no time, join the epoch being assembled.

    A fix is emitted once its epoch has both RMC and GGA, or from RMC alone on a receiver
    seen to send no GGA (known after its first epoch); an epoch still waiting for its GGA
    when the next epoch starts is emitted without it. The fix's monotonic time is its RMC's
    arrival. Sentences nobody here parses (proprietary $P..., GSV, GLL ...) are ignored;
    damaged ones we parse are counted.
    """

    KEEP = 3  # epochs held while their sentences come in

    def __init__(self, track: GpsTrack) -> None:
        self.track = track
        # UTC time field -> {"rmc", "gga", "extra", ...}
        self.epochs: dict[str, dict[str, Any]] = {}
        self.current: str | None = None
        self.gga_seen = False
        self.rmc_only = False  # an epoch ended without GGA, and no GGA ever came

    def feed(self, line: str, mono: float) -> bool:
        """Take one line; True when it was a valid RMC or GGA: a fix, or the receiver saying
        it has none. That, not any line, is the receiver's proof of life (#32 item 5)."""
        try:
            s = parse_sentence(line)
            parser = PARSERS.get(s.kind) if s.talker != "P" else None
            if parser is None:
                return False
            data = parser(s)
        except NmeaError as exc:
            addr = address(line)
            if addr is None or is_parsed(addr):
                self.track.errors += 1
                log.debug("gps: %s", exc)
            return False
        if s.kind in ("RMC", "GGA"):
            self._timed(s.kind.lower(), data, mono)
            return True
        if self.current in self.epochs:
            extra = self.epochs[self.current]["extra"]
            extra.update({k: v for k, v in data.items() if v is not None and k not in extra})
        return False

    def flush(self) -> None:
        """Emit every epoch still waiting (end of a log, or the port closed)."""
        for key in list(self.epochs):
            self._emit(key)
        self.epochs.clear()

    def _timed(self, kind: str, data: dict[str, Any], mono: float) -> None:
        key = data.pop("time")
        if kind == "rmc" and data.get("utc"):
            self.track.last_utc, self.track.last_utc_mono = data["utc"], mono
        if kind == "gga":
            self.gga_seen = True
        if key != self.current:
            for older in [k for k in self.epochs if k != key]:
                self._emit(older)  # its GGA (or RMC) is not coming any more
        ep = self.epochs.setdefault(
            key, {"rmc": None, "gga": None, "extra": {}, "mono": None, "done": False}
        )
        ep[kind] = data
        if kind == "rmc":
            ep["mono"] = mono
        self.current = key
        if ep["rmc"] is not None and (ep["gga"] is not None or self.rmc_only or not key):
            self._emit(key)
        while len(self.epochs) > self.KEEP:
            self.epochs.pop(next(iter(self.epochs)))

    def _emit(self, key: str) -> None:
        ep = self.epochs.get(key)
        if ep is None or ep["done"] or ep["rmc"] is None:
            return
        ep["done"] = True
        if ep["gga"] is None and not self.gga_seen:
            self.rmc_only = True
        rmc, gga, extra = ep["rmc"], ep["gga"] or {}, ep["extra"]
        if not rmc["valid"] or rmc["lat"] is None or rmc["lon"] is None:
            return
        if gga and gga["quality"] == 0:
            return  # the receiver says this epoch has no fix, whatever RMC says

        def pick(k: str, *srcs: dict[str, Any]) -> Any:  # the first source that has field k
            return next((d[k] for d in srcs if d.get(k) is not None), None)

        self.track.add(
            Fix(
                lat=rmc["lat"],
                lon=rmc["lon"],
                mono=ep["mono"],
                utc=rmc.get("utc"),
                quality=gga.get("quality") or 1,
                hdop=pick("hdop", gga, extra),
                satellites=gga.get("satellites"),
                speed_kmh=pick("speed_kmh", rmc, extra),
                course=pick("course", rmc, extra),
            )
        )


class GpsReader(Worker):
    """A thread reading NMEA from a serial port or replaying a log file at its recorded pace."""

    def __init__(
        self,
        port: str,
        track: GpsTrack,
        baud: int = 9600,
        replay_loop: bool = False,
        replay_retime: bool = False,
    ) -> None:
        super().__init__("gps")
        self.port = port
        self.track = track
        self.baud = baud
        self.replay_loop = replay_loop
        self.replay_retime = replay_retime  # a recording replayed as if live: times start now
        self.builder = FixBuilder(track)
        self.lines = 0

    @classmethod
    def from_config(cls, gps: GpsConfig, track: GpsTrack) -> GpsReader:
        return cls(gps.port, track, gps.baud, gps.replay_loop, gps.replay_retime)

    def _is_log(self) -> bool:
        p = Path(self.port)
        return p.is_file()

    def _run(self) -> None:
        if self._is_log():
            self._replay()
        else:
            self._serial()

    def handle(self, raw: bytes | str) -> None:
        """One NMEA line, as the serial port or a log gives it (the self-test feeds a log)."""
        line = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
        if not line.strip():
            return
        now = time.monotonic()
        self.lines += 1
        if self.builder.feed(line, now):  # heartbeat: a valid RMC or GGA, every second
            self.progress_mono = now

    def _replay(self) -> None:
        """Replay a log: one epoch (starting with RMC) per second."""
        self.state = "replaying"
        while not self._stop.is_set():
            next_t = time.monotonic()
            log_bytes = Path(self.port).read_bytes()
            if self.replay_retime:
                try:
                    log_bytes = retimed(log_bytes, datetime.now(timezone.utc))
                except ValueError as exc:
                    log.warning("gps: %s replayed with its recorded times (%s)", self.port, exc)
            for raw in log_bytes.splitlines(keepends=True):
                if self._stop.is_set():
                    return
                if b"RMC," in raw[:7]:
                    delay = next_t - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                    next_t += 1.0
                self.handle(raw)
            self.builder.flush()
            if not self.replay_loop:
                self.state = "finished"
                return

    def _serial(self) -> None:
        import serial  # pyserial

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with serial.Serial(self.port, self.baud, timeout=1.0) as ser:
                    self.state = "running"
                    log.info("gps: opened %s at %d baud", self.port, self.baud)
                    backoff = 0.5
                    while not self._stop.is_set():
                        raw = ser.readline()  # b"" on timeout: silence, keep reading
                        if raw:
                            self.handle(raw)
            except (serial.SerialException, OSError) as exc:
                if self.state != "reopening":
                    log.warning("gps: %s unavailable (%s); reopening", self.port, exc)
                self.state = "reopening"
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)
