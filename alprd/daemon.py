"""The daemon: wires capture, GPS, recognition, passes, hotlist, store, uplink and the page.

Wiring and lifecycle only; the work lives in the parts. Threads: one per camera (capture never
blocks on recognition), the state reader, GPS, uplink (with paho's), HQ's inbox, the page
server; the calling thread runs the pass pipeline. Signal handlers only set an event; shutdown
closes open passes into the store first, so nothing seen is lost, then stops the rest."""
from __future__ import annotations

import logging
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable

from alprd import supervise
from alprd.alerts import Alerts
from alprd.audit import AuditLog
from alprd.capture import Camera, FrameQueue
from alprd.config import Config
from alprd.gps import GpsReader, GpsTrack
from alprd.hotlist import Hotlist
from alprd.hotlist.sync import HotlistSync
from alprd.inbox import Inbox
from alprd.lifecycle import Lifecycle
from alprd.pipeline import Pipeline
from alprd.protocol import load_public_key
from alprd.recognize import model_version
from alprd.recognize.recognizer import Recognizer
from alprd.recognize.state_worker import StateWorker
from alprd.retention import VehiclePurge
from alprd.roster import Auth, Roster
from alprd.selftest.control import ControlSocket, socket_path
from alprd.selftest.live import LiveSelftest
from alprd.store import Store, StoreError
from alprd.store.crypto import TamperError, data_key_path, load_key
from alprd.types import Hit, Read
from alprd.ui import App, EventBus, PageServer, alert_event, read_event
from alprd.uplink import Uplink

log = logging.getLogger(__name__)

STOP_WITHIN_S = 8.0  # systemd's TimeoutStopSec= is 10 s


class Daemon:
    def __init__(self, cfg: Config, on_read: Callable[[Read, list[Hit]], None] | None = None,
                 ui: bool = True) -> None:
        self.cfg, unit, self.stop_event = cfg, cfg.vehicle.unit_id, threading.Event()
        state_dir = Path(cfg.store.path).parent
        self.store = Store(Path(cfg.store.path), load_key(data_key_path(cfg.store.key_file)))
        self.audit = AuditLog(self.store, unit)
        self.hotlist = Hotlist.from_config(cfg.hotlist)
        hq_key = load_public_key(Path(cfg.hotlist.public_key)) if cfg.hotlist.public_key else None
        self.sync = (HotlistSync(self.hotlist, hq_key, state_dir, cfg.hotlist.max_age_s,
                                 sealer=self.store.sealer) if hq_key else None)
        self.roster = Roster(hq_key, state_dir, self.store.sealer)  # from HQ only, signed
        if self.sync:
            self.sync.load_saved()
            self.roster.load_saved()
        self.gps_track = GpsTrack(cfg.gps.stale_after_s)
        self.gps = GpsReader.from_config(cfg.gps, self.gps_track) if cfg.gps.port else None
        self.queues = {c.id: FrameQueue(cfg.capture.queue_size) for c in cfg.capture.cameras}
        self.cameras = [Camera(c, self.queues[c.id], cfg.capture.reconnect_max_s)
                        for c in cfg.capture.cameras]
        self.bus = EventBus()
        self.auth = Auth(self.roster, self.audit, unit, cfg.ui.session_idle_s,
                         failures_path=state_dir / "signin-failures.json")
        self.alerts = Alerts(self.store, self.audit, unit,
                             lambda a: self.bus.publish(alert_event(a)), cfg.ui.escalate_after_s)
        try:  # a power cut mid-alert: the alert comes back with its steps
            self.alerts.restore()
        except (sqlite3.Error, TamperError, ValueError) as exc:
            log.error("alerts: open alerts not restored (%s); the hits are stored", exc)
        self.states = StateWorker(lambda: self.pipeline.recognizer.state)  # loaded on its thread
        self.pipeline = Pipeline(cfg, Recognizer.from_config(cfg.recognize), self.store,
                                 self.hotlist, self.gps_track, self.alerts,
                                 lambda r, h: self.bus.publish(read_event(r, h)), self._wake,
                                 on_read, states=self.states)
        self.run_selftest = LiveSelftest(cfg, self.cameras, self.gps_track, self.gps,
                                         self.store, self.audit, state_dir / "tickets",
                                         self._wake)
        self.control = ControlSocket(socket_path(cfg), self.run_selftest)  # `alprd selftest`
        self.inbox = (Inbox(unit, hq_key, self.sync, self.roster, self.auth, self.alerts,
                            self.bus, state_dir, self.run_selftest) if hq_key else None)
        prefix = cfg.uplink.topic_prefix.rstrip("/")
        self.uplink = (Uplink.from_config(
            cfg.uplink, self.store, unit, self.inbox.handlers(prefix) if self.inbox else None,
            supervise.fleet_figures(self.store, self.sync)) if cfg.uplink.broker else None)
        self.purge = VehiclePurge(self.store, self.audit, cfg.store.local_cap_days,
                                  utc=lambda: self.pipeline.trusted_utc(bool(self.gps)))
        app = App(self.auth, self.alerts, self.store, self.audit, self.run_selftest,
                  state_dir / "tickets", unit)
        self.page = (PageServer(cfg.ui.listen, self.bus, self.health, app,
                                (cfg.ui.tls_cert, cfg.ui.tls_key) if cfg.ui.tls_cert else None,
                                cfg.ui.host_names) if ui else None)
        self.page_status = supervise.PageStatus(self.bus, self.sync)
        # every part that runs on its own, in start order (they stop in reverse, see lifecycle)
        self.parts = Lifecycle([p for p in (self.page, self.uplink, self.control, self.inbox,
                                            self.gps, self.states, self.pipeline) if p]
                               + list(self.cameras))
        self.watchdog = supervise.Watchdog(supervise.Notifier(), self.parts.heartbeats(),
                                           cfg.service.stall_s)
        self.health_report = supervise.car_health(
            unit, model_version(), self.pipeline, self.store, self.cameras, self.gps_track,
            self.gps, self.hotlist, self.sync, self.uplink, self.states)

    def _wake(self) -> None:  # a record is waiting for HQ
        if self.uplink:
            self.uplink.wake()

    # -- lifecycle ----------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: object) -> None:
            self.stop_event.set()  # only queue the request; the main loop does the work
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def start(self) -> None:
        log.info("alprd: unit %s, models %s, %d camera(s), hotlist %d entries",
                 self.cfg.vehicle.unit_id, model_version(), len(self.cameras), len(self.hotlist))
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
        while (any(w.state == "starting" for w in workers) and time.monotonic() < deadline
               and not self.stop_event.is_set()):
            self.stop_event.wait(0.05)
        self.watchdog.notifier.send("READY=1", f"STATUS={self._status()}")
        log.info("ready: %s", ", ".join(f"{getattr(w, 'id', 'gps')} {w.state}"
                                        for w in workers) or "no cameras, no GPS")

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
        self.store.close()
        log.info("stopped in %.1f s: %d frames, %d reads, %d hits", time.monotonic() - t0,
                 self.pipeline.frames, self.pipeline.reads, self.pipeline.hits)

    def health(self) -> dict[str, Any]:
        return self.health_report.report()
