"""The car's parts, built from the config and wired together: store, audit log, hotlist and
its sync, roster and sign-in, GPS, cameras, the pass pipeline and its state reader, alerts,
the self-test, HQ's inbox, the uplink, the page. Nothing runs here: alprd.daemon.Daemon starts
and stops them (alprd.lifecycle) and runs the pass pipeline.

Config reaches a part one way: its own section, through the part's from_config(section, ...),
and the part reads its own keys. What is read here is only whether a part exists (a camera,
GPS, HQ's key, a broker), the unit's identity, and where the car's state lives. The two parts
whose work spans the roles, the pass pipeline and the live self-test, get the whole tree."""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from alprd import supervise
from alprd.alerts import Alerts
from alprd.audit import AuditLog
from alprd.capture import Camera, FrameQueue
from alprd.carstatus import CarStatus
from alprd.clock import iso
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
from alprd.recognize.updates import ModelUpdates
from alprd.retention import VehiclePurge
from alprd.roster import Auth, Roster
from alprd.selftest.control import ControlSocket, socket_path
from alprd.selftest.live import LiveSelftest
from alprd.store import Store
from alprd.store.crypto import TamperError
from alprd.types import Hit, Read
from alprd.ui import App, EventBus, PageServer, alert_event, read_event
from alprd.uplink import Uplink

log = logging.getLogger(__name__)


class Car:
    def __init__(
        self, cfg: Config, on_read: Callable[[Read, list[Hit]], None] | None = None, ui: bool = True
    ) -> None:
        self.cfg, unit, self.stop_event = cfg, cfg.vehicle.unit_id, threading.Event()
        state_dir = Path(cfg.store.path).parent
        self.store = Store.from_config(cfg.store)
        self.audit = AuditLog(self.store, unit)
        self.hotlist = Hotlist.from_config(cfg.hotlist)
        hq_key = load_public_key(Path(cfg.hotlist.public_key)) if cfg.hotlist.public_key else None
        self.sync = (
            HotlistSync.from_config(
                cfg.hotlist, self.hotlist, hq_key, state_dir, sealer=self.store.sealer
            )
            if hq_key
            else None
        )
        self.roster = Roster(hq_key, state_dir, self.store.sealer)  # from HQ only, signed
        if self.sync:
            self.sync.load_saved()
            self.roster.load_saved()
        self.gps_track = GpsTrack.from_config(cfg.gps)
        self.gps = GpsReader.from_config(cfg.gps, self.gps_track) if cfg.gps.port else None
        self.queues = {c.id: FrameQueue(cfg.capture.queue_size) for c in cfg.capture.cameras}
        self.cameras = [
            Camera.from_config(c, cfg.capture, self.queues[c.id]) for c in cfg.capture.cameras
        ]
        self.bus = EventBus()
        self.auth = Auth.from_config(cfg.ui, self.roster, self.audit, unit, state_dir)
        self.alerts = Alerts.from_config(
            cfg.ui, self.store, self.audit, unit, lambda a: self.bus.publish(alert_event(a))
        )
        self.auth.hit_open = lambda: bool(self.alerts.current())
        try:  # a power cut mid-alert: the alert comes back with its steps
            self.alerts.restore()
        except (sqlite3.Error, TamperError, ValueError) as exc:
            log.error("alerts: open alerts not restored (%s); the hits are stored", exc)
        self.states = StateWorker(lambda: self.pipeline.recognizer.state)  # loaded on its thread
        self.pipeline = Pipeline(
            cfg,
            Recognizer.from_config(cfg.recognize),
            self.store,
            self.hotlist,
            self.gps_track,
            self.alerts,
            lambda r, h: self.bus.publish(read_event(r, h)),
            self._wake,
            on_read,
            states=self.states,
        )
        self.run_selftest = LiveSelftest(
            cfg,
            self.cameras,
            self.gps_track,
            self.gps,
            self.store,
            self.audit,
            state_dir / "tickets",
            self._wake,
        )
        self.control = ControlSocket(socket_path(cfg), self.run_selftest)  # `alprd selftest`
        self.models = (  # model bundles from HQ (#37), switched between frames
            ModelUpdates(
                cfg.recognize,
                self.pipeline,
                hq_key,
                state_dir / "models",
                model_version(),
                self._model_report,
            )
            if hq_key
            else None
        )
        if self.models:
            self.models.resume()  # the bundle HQ gave this car, across restarts
        self.inbox = (
            Inbox(
                unit,
                hq_key,
                self.sync,
                self.roster,
                self.auth,
                self.alerts,
                self.bus,
                state_dir,
                self.run_selftest,
                self.models.receive if self.models else None,
            )
            if hq_key and self.sync
            else None
        )
        self.car_status = CarStatus(self.health)  # the officer's strip; HQ's fleet flags
        prefix = cfg.uplink.topic_prefix.rstrip("/")
        self.uplink = (
            Uplink.from_config(
                cfg.uplink,
                self.store,
                unit,
                self.inbox.handlers(prefix) if self.inbox else None,
                supervise.fleet_figures(
                    self.store, self.sync, self.car_status.now, lambda: self.pipeline.model
                ),
            )
            if cfg.uplink.broker
            else None
        )
        self.purge = VehiclePurge.from_config(
            cfg.store, self.store, self.audit, lambda: self.pipeline.trusted_utc(bool(self.gps))
        )
        app = App(
            self.auth,
            self.alerts,
            self.store,
            self.audit,
            self.run_selftest,
            state_dir / "tickets",
            unit,
        )
        self.page = PageServer.from_config(cfg.ui, self.bus, self.health, app) if ui else None
        self.page_status = supervise.PageStatus(self.bus, self.sync, self.car_status)
        # every part that runs on its own, in start order (they stop in reverse, see lifecycle)
        self.parts = Lifecycle(
            [
                p
                for p in (
                    self.page,
                    self.uplink,
                    self.control,
                    self.inbox,
                    self.gps,
                    self.states,
                    self.pipeline,
                )
                if p
            ]
            + list(self.cameras)
        )
        self.watchdog = supervise.Watchdog.from_config(cfg.service, self.parts.heartbeats())
        self.health_report = supervise.car_health(
            unit,
            model_version(),
            self.pipeline,
            self.store,
            self.cameras,
            self.gps_track,
            self.gps,
            self.hotlist,
            self.sync,
            self.uplink,
            self.states,
        )

    def _model_report(self, what: dict[str, Any]) -> None:
        """What this car did with a model bundle, for HQ's IT bureau (report model_update)."""
        self.store.queue(
            "report",
            {
                "id": str(uuid.uuid4()),
                "type": "model_update",
                "for": "Information Technology Bureau",
                "unit_id": self.cfg.vehicle.unit_id,
                "utc": iso(datetime.now(timezone.utc)),
                **what,
            },
        )
        self._wake()

    def _wake(self) -> None:  # a record is waiting for HQ
        if self.uplink:
            self.uplink.wake()

    def health(self) -> dict[str, Any]:
        return self.health_report.report()
