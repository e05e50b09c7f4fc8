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
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

from alprd import carstatus

if TYPE_CHECKING:
    from alprd.capture import Camera
    from alprd.carstatus import CarStatus
    from alprd.config import ServiceConfig
    from alprd.gps import GpsReader, GpsTrack
    from alprd.hotlist import Hotlist
    from alprd.hotlist.sync import HotlistSync
    from alprd.pipeline import Pipeline
    from alprd.recognize.state_worker import StateWorker
    from alprd.store import Store
    from alprd.ui import EventBus
    from alprd.uplink import Uplink

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict[str, Any] | None = None) -> None:
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

    @classmethod
    def from_config(
        cls, service: ServiceConfig, heartbeats: dict[str, Callable[[], float | None]]
    ) -> Watchdog:
        return cls(Notifier(), heartbeats, service.stall_s)

    def __init__(
        self,
        notifier: Notifier,
        heartbeats: dict[str, Callable[[], float | None]],
        stale_after_s: float,
    ) -> None:
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
                log.error(
                    "watchdog: no progress from %s; systemd will restart the service if this lasts",
                    ", ".join(stalled),
                )
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


class Health:
    """What /health (signed in) and the demo report about a running car. Each part reports
    its own section (a function called at each report, with plain values); nothing here
    reads another object's attributes, so a renamed field is mypy's error, not a 500."""

    def __init__(self, unit_id: str, models: str) -> None:
        self.unit_id, self.models = unit_id, models
        self._top: list[Callable[[], dict[str, Any]]] = []
        self._sections: dict[str, Callable[[], Any]] = {}

    def add(self, section: str | None, report: Callable[[], Any]) -> Health:
        """report's figures under section, or (None) at the top level."""
        if section is None:
            self._top.append(report)
        else:
            self._sections[section] = report
        return self

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"unit_id": self.unit_id, "models": self.models}
        for top in self._top:
            out.update(top())
        out.update({name: report() for name, report in self._sections.items()})
        return out


def car_health(
    unit_id: str,
    models: str,
    pipeline: Pipeline,
    store: Store,
    cameras: Sequence[Camera],
    gps_track: GpsTrack,
    gps: GpsReader | None,
    hotlist: Hotlist,
    sync: HotlistSync | None,
    uplink: Uplink | None,
    states: StateWorker,
) -> Health:
    """The car's report: each part's own figures."""
    return (
        Health(unit_id, models)
        .add(None, pipeline.health)
        .add(None, lambda: {"outbox": store.outbox_depth()})
        .add("cameras", lambda: {c.id: c.health() for c in cameras})
        .add("gps", lambda: gps_health(gps_track, gps))
        .add(
            "hotlist",
            lambda: {
                "entries": len(hotlist),
                "version": sync.version if sync else None,
                "stale": sync.is_stale() if sync else None,
                "age_s": None
                if sync is None or sync.received_mono is None
                else round(time.monotonic() - sync.received_mono, 1),
            },
        )
        .add(
            "uplink",
            lambda: (
                uplink.health()
                if uplink
                else {"configured": False, "connected": False, "sent": 0, "acked": 0}
            ),
        )
        .add("state_reader", lambda: {**states.health(), "stored_without": pipeline.unstated})
    )


def gps_health(track: GpsTrack, reader: GpsReader | None) -> dict[str, Any]:
    fix = track.latest()
    return {
        "state": reader.state if reader else "none",
        "stale": track.is_stale(),
        "fix": None if fix is None else {"lat": fix.lat, "lon": fix.lon, "quality": fix.quality},
    }


class PageStatus:
    """Tells the page the car's state (alprd.carstatus: the strip on every screen, the red
    banner naming a failure) at once when a part's level changes, and its figures (reads
    counted, a list's age, how long an outage lasts) at most every REFRESH_S. Looks at most
    every CHECK_S (the main loop ticks it every turn)."""

    REFRESH_S = 10.0
    CHECK_S = 1.0

    def __init__(self, bus: EventBus, sync: HotlistSync | None, car: CarStatus) -> None:
        self.bus, self.sync, self.car = bus, sync, car
        self._last: dict[str, Any] | None = None
        self._sent_mono = self._checked_mono = -1e9

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now - self._checked_mono < self.CHECK_S:
            return
        self._checked_mono = now
        parts = self.car.now()
        status = {
            "type": "status",
            "hotlist_stale": bool(self.sync and self.sync.is_stale()),
            "hotlist_version": self.sync.version if self.sync else None,
            "car": parts,
            "problems": carstatus.problems(parts),
        }
        last = self._last
        before = carstatus.levels(last["car"]) if last else {}
        changed = (
            last is None
            or carstatus.levels(parts) != before
            or (status["hotlist_stale"], status["hotlist_version"])
            != (last["hotlist_stale"], last["hotlist_version"])
        )
        if not changed and (status == last or now - self._sent_mono < self.REFRESH_S):
            return
        self._last, self._sent_mono = status, now
        self.bus.publish(status)
        for name, part in parts.items():  # one line when a part's level changes
            was = before.get(name, carstatus.OK)
            if part["level"] == was or name == "hotlist":  # the list: said below
                continue
            if part["level"] == carstatus.OK:
                log.info("car: %s working again", name)
            else:
                (log.error if part["level"] == carstatus.FAIL else log.warning)(
                    "car: %s", part["problem"]
                )
        if status["hotlist_stale"] and not (last and last["hotlist_stale"]):
            log.warning(
                "hotlist: stale (version %s): hits may be missing or cancelled wants "
                "may still alert",
                status["hotlist_version"],
            )


def fleet_figures(
    store: Store,
    sync: HotlistSync | None,
    car: Callable[[], dict[str, dict[str, str]]],
    models: Callable[[], str],
) -> Callable[[], dict[str, Any]]:
    """() -> what this car tells HQ's fleet view with each batch (up.v1 status): its outbox
    depth, hotlist version and the list's age, its parts' levels and failures as the
    officer's strip shows them (car: CarStatus.now), and the models it reads with now."""

    def figures() -> dict[str, Any]:
        parts = car()
        out: dict[str, Any] = {
            "outbox_depth": store.outbox_depth(),
            "health": carstatus.levels(parts),
            "problems": carstatus.problems(parts),
            "models": models(),
        }
        if sync:
            out["hotlist_version"] = sync.version
            if sync.received_mono is not None:
                out["hotlist_age_s"] = round(time.monotonic() - sync.received_mono, 1)
        return out

    return figures
