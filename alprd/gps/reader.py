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
from pathlib import Path

from alprd.gps.nmea import PARSERS, NmeaError, parse_sentence
from alprd.types import Fix
from alprd.worker import Worker

log = logging.getLogger(__name__)


class GpsTrack:
    """Recent fixes on the monotonic clock; answers 'where were we at time t'."""

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
        return Fix(lat=a.lat + (b.lat - a.lat) * t, lon=a.lon + (b.lon - a.lon) * t,
                   mono=mono, utc=a.utc, quality=min(a.quality, b.quality),
                   hdop=a.hdop, satellites=a.satellites, speed_kmh=a.speed_kmh,
                   course=a.course)


class FixBuilder:
    """Combines the sentences of one epoch (RMC + GGA + VTG + GSA) into Fix records."""

    def __init__(self, track: GpsTrack) -> None:
        self.track = track
        self.state: dict = {}

    def feed(self, line: str, mono: float) -> None:
        try:
            s = parse_sentence(line)
            parser = PARSERS.get(s.kind)
            if parser is None:
                return
            data = parser(s)
        except NmeaError as exc:
            self.track.errors += 1
            log.debug("gps: %s", exc)
            return
        if s.kind == "RMC":
            if data.get("utc"):
                self.track.last_utc, self.track.last_utc_mono = data["utc"], mono
            self.state.update({k: v for k, v in data.items() if v is not None})
            if data["valid"] and data["lat"] is not None and data["lon"] is not None:
                self._emit(mono)
        elif s.kind == "GGA":
            self.state.update({k: v for k, v in data.items() if v is not None})
            if data["quality"] == 0:
                self.state["quality"] = 0
        else:
            self.state.update({k: v for k, v in data.items() if v is not None})

    def _emit(self, mono: float) -> None:
        st = self.state
        self.track.add(Fix(lat=st["lat"], lon=st["lon"], mono=mono, utc=st.get("utc"),
                           quality=st.get("quality", 1) or 1, hdop=st.get("hdop"),
                           satellites=st.get("satellites"), speed_kmh=st.get("speed_kmh"),
                           course=st.get("course")))


class GpsReader(Worker):
    """A thread reading NMEA from a serial port or replaying a log file at its recorded pace."""

    def __init__(self, port: str, track: GpsTrack, baud: int = 9600,
                 replay_loop: bool = False) -> None:
        super().__init__("gps")
        self.port = port
        self.track = track
        self.baud = baud
        self.replay_loop = replay_loop
        self.builder = FixBuilder(track)
        self.lines = 0
        self.loop_mono: float | None = None  # heartbeat: the reader loop is turning

    def _is_log(self) -> bool:
        p = Path(self.port)
        return p.is_file()

    def _run(self) -> None:
        if self._is_log():
            self._replay()
        else:
            self._serial()

    def _handle(self, raw: bytes | str) -> None:
        line = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
        if not line.strip():
            return
        now = time.monotonic()
        self.lines += 1
        self.builder.feed(line, now)

    def _replay(self) -> None:
        """Replay a log: one epoch (starting with RMC) per second."""
        self.state = "replaying"
        while not self._stop.is_set():
            next_t = time.monotonic()
            with open(self.port, "rb") as f:
                for raw in f:
                    self.loop_mono = time.monotonic()
                    if self._stop.is_set():
                        return
                    if b"RMC," in raw[:7]:
                        delay = next_t - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            return
                        next_t += 1.0
                    self._handle(raw)
            if not self.replay_loop:
                self.state = "finished"
                self.loop_mono = None
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
                        self.loop_mono = time.monotonic()
                        raw = ser.readline()  # b"" on timeout: silence, keep reading
                        if raw:
                            self._handle(raw)
            except (serial.SerialException, OSError) as exc:
                if self.state != "reopening":
                    log.warning("gps: %s unavailable (%s); reopening", self.port, exc)
                self.state = "reopening"
            self.loop_mono = time.monotonic()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)
