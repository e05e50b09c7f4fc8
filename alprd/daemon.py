"""The daemon: runs the car's parts (alprd.car builds and wires them).

Lifecycle only; the work lives in the parts. Threads: one per camera (capture never blocks on
recognition), the state reader, GPS, uplink (with paho's), HQ's inbox, the page server; the
calling thread runs the pass pipeline. Signal handlers only set an event; shutdown stops the
parts in reverse order (alprd.lifecycle): the cameras, then the open passes into the store, so
nothing seen is lost, then the rest."""

from __future__ import annotations

import logging
import signal
import sqlite3
import time
from typing import Callable

from alprd.car import Car
from alprd.recognize import model_version
from alprd.store import StoreError

log = logging.getLogger(__name__)

STOP_WITHIN_S = 8.0  # systemd's TimeoutStopSec= is 10 s


class Daemon(Car):
    # -- lifecycle ----------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: object) -> None:
            self.stop_event.set()  # only queue the request; the main loop does the work

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def start(self) -> None:
        log.info(
            "alprd: unit %s, models %s, %d camera(s), hotlist %d entries",
            self.cfg.vehicle.unit_id,
            model_version(),
            len(self.cameras),
            len(self.hotlist),
        )
        self.parts.start()
        if self.page:
            log.info("in-car page: %s", self.page.url)
        if self.store.outbox_depth():
            log.info("outbox: %d records from earlier wait for HQ", self.store.outbox_depth())

    def _status(self) -> str:  # systemd's STATUS=
        return f"{self.pipeline.reads_per_min()} reads/min, outbox {self.store.outbox_depth()}"

    def _wait_ready(self) -> None:
        """READY=1 once cameras and GPS have opened (or tried to) and the store is open."""
        deadline = time.monotonic() + self.cfg.service.ready_timeout_s
        workers = list(self.cameras) + ([self.gps] if self.gps else [])
        while (
            any(w.state == "starting" for w in workers)
            and time.monotonic() < deadline
            and not self.stop_event.is_set()
        ):
            self.stop_event.wait(0.05)
        self.watchdog.notifier.send("READY=1", f"STATUS={self._status()}")
        link = (
            f"uplink {'connected' if self.uplink.connected.is_set() else 'connecting'} "
            f"to {self.uplink.host}:{self.uplink.port}"
            if self.uplink
            else "no uplink (no HQ broker configured)"
        )
        log.info(
            "ready: %s; %s",
            ", ".join(f"{getattr(w, 'id', 'gps')} {w.state}" for w in workers)
            or "no cameras, no GPS",
            link,
        )

    def run(self, until: Callable[[], bool] | None = None, drain_s: float = 0.0) -> None:
        """Recognise until stopped (or until() is true); then shut down cleanly.

        drain_s: at the end, wait up to this long for HQ to acknowledge the outbox."""
        if self.uplink:
            self.uplink.drain_s = drain_s
        self.start()
        self._wait_ready()
        try:
            while not self.stop_event.is_set():
                if not self.step() and until and until():
                    break
        finally:
            self.shutdown()

    def step(self) -> bool:
        """One frame from each camera with one waiting; False when every queue was empty."""
        worked = False
        if not self.queues:
            self.stop_event.wait(0.05)  # no camera: hits still escalate, the page still works
        for cam_id, q in self.queues.items():
            frame = q.get(timeout=0 if worked else 0.05)
            if frame is not None:
                worked = True
                self.pipeline.frame(cam_id, frame)
        self.pipeline.expire(time.monotonic())
        try:
            self.alerts.tick()
        except StoreError as exc:
            log.error("alerts: %s", exc)
        self.page_status.tick()
        self.purge.tick()
        self.watchdog.tick(self._status)
        return worked

    def all_sources_finished(self) -> bool:
        return all(c.finished.is_set() for c in self.cameras) and not any(self.queues.values())

    def shutdown(self) -> None:
        """Every part in reverse start order: the cameras, then open passes into the store,
        the rest, the uplink draining its outbox, the page."""
        t0 = time.monotonic()
        self.watchdog.notifier.send("STOPPING=1")
        self.parts.stop(STOP_WITHIN_S + (self.uplink.drain_s if self.uplink else 0.0))
        self.pipeline.utc_clock.save()
        try:
            waiting: int | None = self.store.outbox_depth()
        except sqlite3.Error:
            waiting = None
        self.store.close()
        log.info(
            "stopped in %.1f s: %d frames, %d reads, %d hits this run; %s",
            time.monotonic() - t0,
            self.pipeline.frames,
            self.pipeline.reads,
            self.pipeline.hits,
            "the outbox could not be read"
            if waiting is None
            else f"{waiting} record(s) wait for HQ (sent at the next start)"
            if waiting
            else "HQ has every record",
        )
