"""systemd supervision: READY once open, WATCHDOG only while every stage makes progress.

sd_notify is a datagram to $NOTIFY_SOCKET, a no-op outside systemd. Each stage proves it is
alive by a heartbeat (the monotonic time of its last progress); the watchdog is fed only while
all of them are fresh, so a stalled camera, recognizer, GPS or uplink gets the service
restarted (WatchdogSec=, Restart=on-failure).
"""
from __future__ import annotations

import logging
import os
import socket
import statistics
import time
from typing import Callable

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC")
        self.watchdog_s = int(usec) / 1e6 if usec and usec.isdigit() else None
        if self.address and self.address.startswith("@"):
            self.address = "\0" + self.address[1:]  # abstract socket

    def send(self, *lines: str) -> bool:
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto("\n".join(lines).encode(), self.address)
            return True
        except OSError as exc:
            log.debug("sd_notify failed: %s", exc)
            return False


class Watchdog:
    """Feeds systemd's watchdog while every heartbeat is younger than its limit."""

    def __init__(self, notifier: Notifier, heartbeats: dict[str, Callable[[], float | None]],
                 stale_after_s: float) -> None:
        self.notifier = notifier
        self.heartbeats = heartbeats  # name -> monotonic time of the last progress
        self.stale_after_s = stale_after_s
        self.interval_s = (notifier.watchdog_s or 0) / 2
        self._next = 0.0
        self.stalled: list[str] = []

    def check(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        stalled = []
        for name, beat in self.heartbeats.items():
            t = beat()
            if t is None or now - t > self.stale_after_s:
                stalled.append(name)
        if stalled != self.stalled:
            if stalled:
                log.error("watchdog: no progress from %s; systemd will restart the service "
                          "if this lasts", ", ".join(stalled))
            else:
                log.info("watchdog: every stage is making progress again")
        self.stalled = stalled
        return stalled

    def tick(self, status: Callable[[], str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if not self.interval_s or now < self._next:
            return
        self._next = now + self.interval_s
        if not self.check(now):
            self.notifier.send("WATCHDOG=1", f"STATUS={status()}")
        else:
            self.notifier.send(f"STATUS=stalled: {', '.join(self.stalled)}")


def heartbeats(recognition: Callable[[], float | None], cameras=(), gps=None, uplink=None,
               inbox=None) -> dict[str, Callable[[], float | None]]:
    """The heartbeat of every thread the daemon runs, by name: each camera's frames (one dead
    camera of two stalls the watchdog), the GPS's sentences, the uplink's sender loop and
    paho's network thread, the inbox's queue; a thread that has ended has no heartbeat."""
    beats = {"recognition": recognition}
    for cam in cameras:
        beats[f"capture {cam.id}"] = cam.heartbeat
    if gps:
        beats["gps"] = gps.heartbeat
    if uplink:
        beats["uplink"] = uplink.heartbeat
        beats["mqtt"] = uplink.network_heartbeat
    if inbox:
        beats["inbox"] = inbox.heartbeat
    return beats


def health(daemon, models: str) -> dict:
    """What the page's /health (signed in) and the demo report about a running car."""
    d = daemon
    pipeline, store, cameras, queues, gps, gps_track, hotlist, sync, uplink = (
        d.pipeline, d.store, d.cameras, d.queues, d.gps, d.gps_track, d.hotlist, d.sync,
        d.uplink)
    fix = gps_track.latest()
    return {"unit_id": d.cfg.vehicle.unit_id, "models": models,
            "frames": pipeline.frames, "reads": pipeline.reads, "hits": pipeline.hits,
            "dropped_reads": pipeline.dropped_reads, "outbox": store.outbox_depth(),
            "cameras": {c.id: {"state": c.state, "frames": c.frames,
                               "dropped": queues[c.id].dropped} for c in cameras},
            "gps": {"state": gps.state if gps else "none", "stale": gps_track.is_stale(),
                    "fix": None if fix is None else {"lat": fix.lat, "lon": fix.lon,
                                                     "quality": fix.quality}},
            "hotlist": {"entries": len(hotlist), "version": sync.version if sync else None,
                        "stale": sync.is_stale() if sync else None},
            "uplink": {"connected": bool(uplink and uplink.connected.is_set()),
                       "sent": uplink.sent if uplink else 0,
                       "acked": uplink.acked if uplink else 0},
            "state_reader": {"state": d.states.state, "read": d.states.read,
                             "failed": d.states.failed, "dropped": d.states.dropped,
                             "stored_without": pipeline.unstated,
                             "ms_median": round(statistics.median(d.states.ms), 1)
                             if d.states.ms else None}}


class PageStatus:
    """Tells the page when something the officer must know changes (a stale hotlist)."""

    def __init__(self, bus, sync) -> None:
        self.bus, self.sync = bus, sync
        self._last: dict | None = None

    def tick(self) -> None:
        status = {"type": "status", "hotlist_stale": bool(self.sync and self.sync.is_stale()),
                  "hotlist_version": self.sync.version if self.sync else None}
        if status == self._last:
            return
        self._last = status
        self.bus.publish(status)
        if status["hotlist_stale"]:
            log.warning("hotlist: stale (version %s): hits may be missing or cancelled wants "
                        "may still alert", status["hotlist_version"])


def fleet_figures(store, sync):
    """() -> what this car tells HQ's fleet view with each batch (up.v1 status): its outbox
    depth, hotlist version and the list's age."""
    def figures() -> dict:
        out = {"outbox_depth": store.outbox_depth()}
        if sync:
            out["hotlist_version"] = sync.version
            if sync.received_mono is not None:
                out["hotlist_age_s"] = round(time.monotonic() - sync.received_mono, 1)
        return out
    return figures
