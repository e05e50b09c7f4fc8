"""The daemon: wires capture, GPS, recognition, passes, hotlist, store, uplink and the page.

Threads: one per camera (capture never blocks on recognition), GPS, uplink, page server; the
calling thread runs recognition. Signal handlers only set an event; shutdown closes open passes
into the store first, so nothing seen is lost, then stops the rest within a few seconds.
"""
from __future__ import annotations

import json
import logging
import signal
import sqlite3
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import cv2

from alprd import clock, retention
from alprd.audit import AuditLog
from alprd.capture import Camera, FrameQueue
from alprd.config import Config
from alprd.files import replace_atomically
from alprd.geometry import inside
from alprd.gps import GpsReader, GpsTrack
from alprd.hotlist import Hotlist, HotlistError, read_csv
from alprd.hotlist.sync import HotlistSync, UpdateRefused, load_public_key, verify
from alprd.recognize import model_version
from alprd.recognize.recognizer import Recognizer
from alprd.store import Store, StoreError
from alprd.store.crypto import TamperError, data_key_path, load_key
from alprd.track import Pass, PassTracker
from alprd.types import Hit, Observation, Read
from alprd.roster import Auth, Roster
from alprd.supervise import Notifier, Watchdog
from alprd.ui import App, EventBus, PageServer, read_event
from alprd.ui.alerts import Alerts
from alprd.uplink import TlsFiles, Uplink

log = logging.getLogger(__name__)

PURGE_EVERY_S = 600.0
EARLY_MIN_SIGHTINGS = 3  # an early alert needs this many sightings of the pass ...
EARLY_MIN_CONFIDENCE = 0.8  # ... and every character of the vote at least this sure


def sharpness(crop) -> float:
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


class Daemon:
    def __init__(self, cfg: Config, on_read: Callable[[Read, list[Hit]], None] | None = None,
                 ui: bool = True) -> None:
        self.cfg = cfg
        self.on_read = on_read
        self.stop_event = threading.Event()
        self.store = Store(Path(cfg.store.path), load_key(data_key_path(cfg.store.key_file)))
        self.recognizer = Recognizer.from_config(cfg.recognize)
        self.tracker = PassTracker(cfg.track.pass_gap_s, cfg.track.max_pass_s)
        self.hotlist = Hotlist.from_config(cfg.hotlist)
        if cfg.hotlist.path:
            try:
                self.hotlist.replace(read_csv(Path(cfg.hotlist.path)))
                log.info("hotlist: %d entries from %s", len(self.hotlist), cfg.hotlist.path)
            except HotlistError as exc:
                log.error("hotlist: %s; running with an empty list", exc)
        self.sync = None
        state_dir = Path(cfg.store.path).parent
        self.hq_key = (load_public_key(Path(cfg.hotlist.public_key))
                       if cfg.hotlist.public_key else None)
        if self.hq_key:
            self.sync = HotlistSync(self.hotlist, self.hq_key, state_dir, cfg.hotlist.max_age_s)
            self.sync.load_saved()
        self.audit = AuditLog(self.store, cfg.vehicle.unit_id)
        self.roster = Roster(self.hq_key, state_dir)  # users come from HQ only, signed
        if self.hq_key:
            self.roster.load_saved()
        self.track = GpsTrack(cfg.gps.stale_after_s)
        self.gps = (GpsReader(cfg.gps.port, self.track, cfg.gps.baud, cfg.gps.replay_loop)
                    if cfg.gps.port else None)
        self.queues = {c.id: FrameQueue(cfg.capture.queue_size) for c in cfg.capture.cameras}
        self.cameras = [Camera(c, self.queues[c.id], cfg.capture.reconnect_max_s)
                        for c in cfg.capture.cameras]
        self.uplink = (Uplink(cfg.uplink.broker, self.store, cfg.vehicle.unit_id,
                              cfg.uplink.topic_prefix, cfg.uplink.batch, cfg.uplink.retry_s,
                              tls=TlsFiles.from_config(cfg.uplink)
                              if cfg.uplink.broker.startswith("mqtts") else None,
                              max_bytes_per_s=cfg.uplink.max_bytes_per_s)
                       if cfg.uplink.broker else None)
        if self.uplink and self.hq_key:
            self.uplink.on_hotlist = self._hotlist_update
            self.uplink.handlers[f"{self.uplink.prefix}/roster"] = self._roster_update
            self.uplink.handlers[f"{self.uplink.prefix}/{cfg.vehicle.unit_id}/cmd"] = \
                self._command
        self.bus = EventBus()
        self.auth = Auth(self.roster, self.audit, cfg.vehicle.unit_id, cfg.ui.session_idle_s)
        self.alerts = Alerts(self.store, self.audit, self.bus, cfg.vehicle.unit_id,
                             cfg.ui.escalate_after_s)
        try:  # a power cut mid-alert: the alert comes back with its steps
            self.alerts.restore()
        except (sqlite3.Error, TamperError, ValueError) as exc:
            log.error("alerts: open alerts not restored (%s); the hits are stored", exc)
        self.tickets_dir = state_dir / "tickets"
        app = App(self.auth, self.alerts, self.store, self.audit, self.run_selftest,
                  self.tickets_dir, cfg.vehicle.unit_id)
        self.notifier = Notifier()
        self.watchdog = Watchdog(self.notifier, self._heartbeats(), cfg.service.stall_s)
        self.loop_mono = time.monotonic()
        self._read_times: list[float] = []
        self.page = (PageServer(cfg.ui.listen, self.bus, self.health, app,
                                (cfg.ui.tls_cert, cfg.ui.tls_key) if cfg.ui.tls_cert else None)
                     if ui else None)
        self.frames = 0
        self.reads = 0
        self.hits = 0
        self.dropped_reads = 0
        self.last_recognition_mono = time.monotonic()
        self.drain_s = 0.0
        self._last_status: dict | None = None
        self._last_purge_mono = -PURGE_EVERY_S

    # -- lifecycle ----------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def handler(signum, frame):
            self.stop_event.set()  # only queue the request; the main loop does the work
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def start(self) -> None:
        log.info("alprd: unit %s, models %s, %d camera(s), hotlist %d entries",
                 self.cfg.vehicle.unit_id, model_version(), len(self.cameras), len(self.hotlist))
        if self.gps:
            self.gps.start()
        for cam in self.cameras:
            cam.start()
        if self.uplink:
            self.uplink.start()
        if self.page:
            self.page.start()
            log.info("in-car page: %s", self.page.url)
        pending = self.store.outbox_depth()
        if pending:
            log.info("outbox: %d records from earlier wait for HQ", pending)

    def _heartbeats(self) -> dict:
        beats = {"recognition": lambda: self.loop_mono}
        if self.cameras:
            beats["capture"] = lambda: max((c.last_frame_mono or 0.0 for c in self.cameras),
                                           default=None) or None
        if self.gps:
            beats["gps"] = lambda: self.gps.loop_mono
        if self.uplink:
            beats["uplink"] = lambda: self.uplink.loop_mono
        return beats

    def _status(self) -> str:
        now = time.monotonic()
        self._read_times = [t for t in self._read_times if now - t <= 60]
        return f"{len(self._read_times)} reads/min, outbox {self.store.outbox_depth()}"

    def _wait_ready(self) -> None:
        """READY=1 once cameras and GPS have opened (or tried to) and the store is open."""
        deadline = time.monotonic() + self.cfg.service.ready_timeout_s
        workers = list(self.cameras) + ([self.gps] if self.gps else [])
        while (any(w.state == "starting" for w in workers) and time.monotonic() < deadline
               and not self.stop_event.is_set()):
            self.stop_event.wait(0.05)
        self.notifier.send("READY=1", f"STATUS={self._status()}")
        log.info("ready: %s", ", ".join(f"{getattr(w, 'id', 'gps')} {w.state}"
                                        for w in workers) or "no cameras, no GPS")

    def run(self, until: Callable[[], bool] | None = None, drain_s: float = 0.0) -> None:
        """Recognise until stopped (or until() is true); then shut down cleanly.

        drain_s: at the end, wait up to this long for HQ to acknowledge the outbox."""
        self.drain_s = drain_s
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
            if frame is None:
                continue
            worked = True
            self.frames += 1
            for plate, crop in self.recognizer(frame.image, frame.detect_image):
                p = self.tracker.add(Observation(plate, cam_id, frame.mono, crop,
                                                 sharpness(crop)))
                self._maybe_alert_early(p)
            self.last_recognition_mono = time.monotonic()
        for p in self.tracker.expire(time.monotonic()):
            self._finish(p)
        try:
            self.alerts.tick()
        except StoreError as exc:
            log.error("alerts: %s", exc)
        self._publish_status()
        self._purge_now_and_then()
        self.loop_mono = time.monotonic()
        self.watchdog.tick(self._status)
        return worked

    def _purge_now_and_then(self) -> None:
        """POL-09 on the vehicle: every ten minutes, purge acknowledged reads past the cap."""
        now = time.monotonic()
        if now - self._last_purge_mono < PURGE_EVERY_S:
            return
        self._last_purge_mono = now
        before = retention.vehicle_purge_before(datetime.now(timezone.utc),
                                                self.cfg.store.local_cap_days)
        try:
            n = self.store.purge_acknowledged(clock.iso(before))
            self.audit.purge_acknowledged(clock.iso(before))
        except sqlite3.Error as exc:
            log.error("retention: purge failed: %s", exc)
            return
        if n:
            log.info("retention: purged %d acknowledged read(s) captured before %s", n,
                     clock.iso(before))

    def _publish_status(self) -> None:
        """Tell the page when something the officer must know changes (a stale hotlist)."""
        status = {"type": "status",
                  "hotlist_stale": bool(self.sync and self.sync.is_stale()),
                  "hotlist_version": self.sync.version if self.sync else None}
        if status != self._last_status:
            self._last_status = status
            self.bus.publish(status)
            if status["hotlist_stale"]:
                log.warning("hotlist: stale (version %s): hits may be missing or cancelled "
                            "wants may still alert", status["hotlist_version"])

    def all_sources_finished(self) -> bool:
        return all(c.finished.is_set() for c in self.cameras) and not any(self.queues.values())

    def shutdown(self) -> None:
        t0 = time.monotonic()
        self.notifier.send("STOPPING=1")
        for cam in self.cameras:
            cam.stop()
        for p in self.tracker.expire(time.monotonic(), force=True):
            self._finish(p)
        if self.gps:
            self.gps.stop()
        if self.uplink:
            deadline = time.monotonic() + self.drain_s
            while self.store.outbox_depth() and time.monotonic() < deadline:
                self.uplink.wake()
                self.stop_event.wait(0.1)
            self.uplink.stop(timeout=1.5)
        if self.page:
            self.page.stop()
        for cam in self.cameras:
            cam.join(1.0)
        self.store.close()
        log.info("stopped in %.1f s: %d frames, %d reads, %d hits", time.monotonic() - t0,
                 self.frames, self.reads, self.hits)

    # -- a finished pass ----------------------------------------------------------------
    def _build_read(self, p: Pass) -> tuple[Read, list[Hit]] | None:
        """The pass as a read with its hotlist hits; None where it must not be kept."""
        text, confs = p.text()
        best = p.best()
        fix = self.track.at(best.mono)
        if fix is not None and self._in_no_capture_zone(fix):
            return None
        utc, source = clock.utc_for(best.mono, self.track.last_utc, self.track.last_utc_mono)
        ok, jpeg = cv2.imencode(".jpg", best.crop,
                                [cv2.IMWRITE_JPEG_QUALITY, self.cfg.store.crop_quality])
        if not ok:
            log.error("could not encode the crop of %s; pass dropped", text)
            return None
        read = Read(id=p.id, text=text,
                    confidence=round(sum(confs) / len(confs), 4) if confs else 0.0,
                    char_confidences=confs, state=best.plate.state, utc=utc, time_source=source,
                    camera_id=p.camera_id, unit_id=self.cfg.vehicle.unit_id,
                    lat=fix.lat if fix else None, lon=fix.lon if fix else None,
                    fix_quality=fix.quality if fix else 0, crop_jpeg=jpeg.tobytes(),
                    bbox=best.plate.bbox, frames=len(p.sightings))
        hits = [Hit(id=hit_id(read.id, m.entry), read_id=read.id, entry=m.entry, rule=m.rule,
                    utc=utc, differs=m.differs, state_rule=m.state_rule)
                for m in self.hotlist.match(read.text, read.state)]
        return read, hits

    def _maybe_alert_early(self, p: Pass) -> None:
        """Alert before the pass ends when its vote is already confident; once per pass."""
        if p.alerted or len(p.sightings) < EARLY_MIN_SIGHTINGS:
            return
        _, confs = p.text()
        if min(confs, default=0.0) < EARLY_MIN_CONFIDENCE:
            return
        built = self._build_read(p)
        if built and built[1]:
            p.alerted = True
            self.alerts.open(read_event(*built))

    def _finish(self, p: Pass) -> None:
        built = self._build_read(p)
        if built is None:
            self.store.bump("no_capture_zone")  # POL-03: nothing but the count is kept
            log.debug("read dropped in a no-capture zone")
            return
        self.record(*built)

    def record(self, read: Read, hits: list[Hit]) -> None:
        """Store a read with its hits, then tell the page, the uplink and the caller."""
        try:
            self.store.add_read(read, hits)
        except StoreError as exc:  # full disk, I/O error: say so, count it, keep running
            self.dropped_reads += 1
            log.error("%s; %d read(s) dropped so far", exc, self.dropped_reads)
            return
        self.reads += 1
        self.hits += len(hits)
        self._read_times.append(time.monotonic())
        event = read_event(read, hits)
        self.bus.publish(event)
        if hits:
            self.alerts.open(event)  # once per hit: an early alert is updated, not repeated
        if self.uplink:
            self.uplink.wake()
        if self.on_read:
            self.on_read(read, hits)

    def _hotlist_update(self, message: bytes) -> None:
        """A signed update from HQ (paho's thread): apply it, withdraw cancelled alerts."""
        try:
            applied = self.sync.apply(message)
        except UpdateRefused:
            return  # logged with its reason; the last good list stays
        log.info("hotlist: %s applied, version %d (+%d, -%d)", applied.kind, applied.version,
                 applied.added, len(applied.removed))
        if applied.cancelled and applied.removed:
            plates = [p for p, _ in applied.removed]
            try:
                self.alerts.cancel(plates)
            except StoreError as exc:
                log.error("alerts: %s", exc)
            self.bus.publish({"type": "cancel", "plates": plates, "version": applied.version})

    def _roster_update(self, message: bytes) -> None:
        """A signed roster from HQ (paho's thread); separated users are signed out (POL-15)."""
        try:
            removed, changed = self.roster.apply(message)
        except UpdateRefused as exc:
            log.error("roster: update refused: %s; the last good roster stays", exc)
            return
        ended = self.auth.roster_applied(removed, changed)
        if ended:
            log.warning("roster: signed out %s (removed, deactivated or role changed)",
                        ", ".join(ended))

    def _command(self, message: bytes) -> None:
        """A signed command from HQ (docs/protocol.md: command.v1)."""
        try:
            body = verify(message, self.hq_key)
            if body.get("kind") != "command" or body.get("unit_id") != self.cfg.vehicle.unit_id:
                raise UpdateRefused("not a command for this unit")
            if body.get("command") != "selftest":
                raise UpdateRefused(f"unknown command {body.get('command')!r}")
            if not isinstance(body.get("id"), str) or body["id"] in self._commands_seen():
                raise UpdateRefused(f"command {body.get('id')!r} already run (replayed)")
        except UpdateRefused as exc:
            log.error("command refused: %s", exc)
            return
        self._command_seen(body["id"])
        log.info("HQ asks for a self-test (command %s)", body.get("id"))
        threading.Thread(target=self.run_selftest, name="selftest", daemon=True,
                         kwargs={"session": None, "command_id": body.get("id")}).start()

    def _commands_seen(self) -> list[str]:
        """Ids of the commands already run (the last 1,000), kept across restarts."""
        path = Path(self.cfg.store.path).parent / "commands-seen.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return []

    def _command_seen(self, command_id: str) -> None:
        path = Path(self.cfg.store.path).parent / "commands-seen.json"
        seen = (self._commands_seen() + [command_id])[-1000:]
        replace_atomically(path, json.dumps(seen).encode())

    def run_selftest(self, session=None, command_id: str | None = None) -> dict:
        """The self-test inside the running daemon, for the page's button and HQ's command.
        A failure prepares the trouble ticket (Form 11.03.00), saved and queued for HQ."""
        from alprd import selftest
        from alprd.selftest import ticket
        results = selftest.run_live(self.cfg, self.cameras, self.track, self.gps)
        failed = [r.component for r in results if r.status == "fail"]
        who = f"{session.name} ({session.badge})" if session else "HQ command"
        out = {"results": selftest.as_json(results), "failed": failed, "ticket": None}
        if failed:
            t = ticket.make(self.cfg, results, who)
            if command_id:
                t["command_id"] = command_id
            path = ticket.save(t, self.tickets_dir)
            self.store.queue("ticket", t)
            out["ticket"] = {"id": t["id"], "url": f"/tickets/{path.name}"}
        else:
            self.store.queue("selftest", {"id": str(uuid.uuid4()), "unit_id":
                                          self.cfg.vehicle.unit_id, "utc": clock.iso(
                                              datetime.now(timezone.utc)),
                                          "command_id": command_id,
                                          "results": out["results"]})
        self.audit.append(session.badge if session else "hq", session.role if session
                          else "system", "selftest", detail={"failed": failed,
                                                             "command_id": command_id})
        if self.uplink:
            self.uplink.wake()
        log.info("self-test: %s", f"FAILED: {', '.join(failed)}" if failed else "all OK")
        return out

    def _in_no_capture_zone(self, fix) -> bool:
        return any(inside((fix.lat, fix.lon), z.polygon)
                   for z in self.cfg.capture.no_capture_zones)

    def health(self) -> dict:
        fix = self.track.latest()
        return {"unit_id": self.cfg.vehicle.unit_id, "models": model_version(),
                "frames": self.frames, "reads": self.reads, "hits": self.hits,
                "dropped_reads": self.dropped_reads, "outbox": self.store.outbox_depth(),
                "cameras": {c.id: {"state": c.state, "frames": c.frames,
                                   "dropped": self.queues[c.id].dropped}
                            for c in self.cameras},
                "gps": {"state": self.gps.state if self.gps else "none",
                        "stale": self.track.is_stale(),
                        "fix": None if fix is None else {"lat": fix.lat, "lon": fix.lon,
                                                         "quality": fix.quality}},
                "hotlist": {"entries": len(self.hotlist),
                            "version": self.sync.version if self.sync else None,
                            "stale": self.sync.is_stale() if self.sync else None},
                "uplink": {"connected": bool(self.uplink and self.uplink.connected.is_set()),
                           "sent": self.uplink.sent if self.uplink else 0,
                           "acked": self.uplink.acked if self.uplink else 0}}


def hit_id(read_id: str, entry) -> str:
    """A hit's id, derived from the pass and the entry: an early alert and the stored hit are
    the same hit, so the steps recorded on either refer to one id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL,
                          f"alprd:{read_id}:{entry.plate}:{entry.state}:{entry.list_type}"))


def format_read(read: Read, hits: list[Hit]) -> str:
    where = f"{read.lat:.5f},{read.lon:.5f}" if read.lat is not None else "no-fix"
    line = (f"READ {read.text:<8} conf={read.confidence:.2f} cam={read.camera_id} "
            f"frames={read.frames} {read.utc} {where}")
    for h in hits:
        e = h.entry
        line += (f"\nHIT  {read.text:<8} {e.list_type} ({h.rule}) {e.reason}"
                 f"{' case ' + e.case_number if e.case_number else ''} -- UNVERIFIED, "
                 "verify before any stop")
    return line
