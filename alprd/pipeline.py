"""The pass pipeline: frames become sightings, a vehicle pass becomes one read.

Each frame is recognised and its plates tracked into passes (alprd.track). A pass whose vote
is already confident alerts early; a finished pass becomes a read stamped with its time
(clock) and place (GPS), dropped in a no-capture zone (POL-03), matched against the hotlist,
stored, then shown on the page, opened as an alert and handed to the uplink and the caller.

The state is read once a pass, on the pass's best crop, by a worker beside the frame loop
(alprd.recognize.state_worker): asked when the pass ends, or when it first alerts early (the
alert is shown at once and updated when the state comes; where the hotlist ignores state
mismatches, an early hit whose state is still unread waits for it, so a hit the state rules
out is never shown). A finished pass waits for its state at most STATE_WAIT_S, then is stored
without it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import cv2
import numpy as np

from alprd import clock
from alprd.geometry import inside
from alprd.lifecycle import Heartbeat
from alprd.recognize.bundle import model_version
from alprd.recognize.recognizer import plate_box
from alprd.recognize.state import BOX_MARGIN
from alprd.store import StoreError
from alprd.track import Pass, PassTracker
from alprd.types import Fix, Frame, Hit, HotlistEntry, Observation, Read

if TYPE_CHECKING:
    from alprd.alerts import Alerts
    from alprd.config import Config
    from alprd.gps import GpsTrack
    from alprd.hotlist import Hotlist
    from alprd.recognize.recognizer import Recognizer
    from alprd.recognize.state_worker import StateWorker
    from alprd.store import Store

log = logging.getLogger(__name__)

EARLY_MIN_SIGHTINGS = 3  # an early alert needs this many sightings of the pass ...
EARLY_MIN_CONFIDENCE = 0.8  # ... and every character of the vote at least this sure
STATE_WAIT_S = 3.0  # a finished pass waits this long for its state (a Pi reads it in ~0.25 s)


def sharpness(crop: np.ndarray) -> float:
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def hit_id(read_id: str, entry: HotlistEntry) -> str:
    """A hit's id, derived from the pass and the entry: an early alert and the stored hit are
    the same hit, so the steps recorded on either refer to one id."""
    return str(
        uuid.uuid5(
            uuid.NAMESPACE_URL, f"alprd:{read_id}:{entry.plate}:{entry.state}:{entry.list_type}"
        )
    )


class Pipeline:
    def __init__(
        self,
        cfg: Config,
        recognizer: Recognizer,
        store: Store,
        hotlist: Hotlist,
        gps_track: GpsTrack,
        alerts: Alerts,
        show: Callable[[Read, list[Hit]], None] = lambda read, hits: None,
        wake_uplink: Callable[[], None] = lambda: None,
        on_read: Callable[[Read, list[Hit]], None] | None = None,
        utc_clock: clock.UtcClock | None = None,
        states: StateWorker | None = None,
    ) -> None:
        """show: puts a stored read on the page (the daemon's: the page's bus)."""
        self.cfg, self.recognizer, self.store = cfg, recognizer, store
        self.model = model_version()  # named on each hit, for HQ's field accuracy
        self.utc_clock = utc_clock or clock.UtcClock(  # the last recorded time, across restarts
            Path(cfg.store.path).parent / "clock-floor", cfg.gps.clock_margin_s
        )
        self.hotlist, self.gps_track, self.alerts, self.show = hotlist, gps_track, alerts, show
        self.wake_uplink, self.on_read = wake_uplink, on_read
        self.tracker = PassTracker(cfg.track.pass_gap_s, cfg.track.max_pass_s)
        self.frames = self.reads = self.hits = self.dropped_reads = self.frames_refused = 0
        self._refused_why: dict[str, str] = {}  # the last reason said, per camera
        self._read_times: list[float] = []
        self.states = states  # a StateWorker; None: reads carry no state
        self._asked: dict[str, Pass] = {}  # passes whose state is being read, by id
        self._waiting: dict[str, float] = {}  # finished passes waiting for it: id -> deadline
        self.unstated = 0  # passes stored without their state: no answer came in time
        self.name = "recognition"
        self.turn_mono: float | None = None

    def frame(self, cam_id: str, frame: Frame) -> None:
        """Recognise one frame; its plates join their passes (an early alert may open). A
        frame the recognizer cannot take (an odd format from a new backend, a bug) is
        counted and said once per camera and reason; the next frame is tried as usual."""
        self.frames += 1
        try:
            plates = self.recognizer(frame.image, frame.detect_image)
        except Exception as exc:  # noqa: BLE001  one bad frame never stops the car
            self.frames_refused += 1
            why = f"{type(exc).__name__}: {exc}"
            if self._refused_why.get(cam_id) != why:
                self._refused_why[cam_id] = why
                log.error(
                    "camera %s: frame %s not recognised (%s); %d so far",
                    cam_id,
                    getattr(frame, "seq", "?"),
                    why,
                    self.frames_refused,
                )
            return
        if plates and self.states is not None:
            self.states.warm()  # the state reader loads while the pass goes on
        for plate, crop in plates:
            p = self.tracker.add(Observation(plate, cam_id, frame.mono, crop, sharpness(crop)))
            self.maybe_alert_early(p)

    # -- as a part of the daemon (alprd.lifecycle): the main loop runs it ---------------
    def start(self) -> None:
        self.turn_mono = time.monotonic()

    def heartbeats(self) -> dict[str, Heartbeat]:
        return {"recognition": lambda: self.turn_mono}  # the main loop's last turn

    def stop(self, timeout_s: float = STATE_WAIT_S) -> bool:
        """Every open pass becomes a read (the cameras have stopped): nothing seen is lost."""
        self.expire(time.monotonic(), force=True)
        return True

    def health(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "reads": self.reads,
            "hits": self.hits,
            "dropped_reads": self.dropped_reads,
        }

    def expire(self, now: float, force: bool = False) -> None:
        """Finish the passes that ended (every open pass, with force: then the states being
        read are waited for, up to STATE_WAIT_S in all). The main loop calls it every turn."""
        self.turn_mono = time.monotonic()
        for p in self.tracker.expire(now, force=force):
            if self.states is None or p.state_read is not None:
                self.finish(p)
            else:
                self._ask_state(p)
                self._waiting[p.id] = now + STATE_WAIT_S
        self._take_states()
        if force:
            end = time.monotonic() + STATE_WAIT_S
            while self._waiting and self.states is not None and time.monotonic() < end:
                self.states.wait(0.05)
                self._take_states()
        for pid, deadline in list(self._waiting.items()):
            if force or now >= deadline:
                self.unstated += 1
                log.warning(
                    "state reader: no answer for a pass within %.0f s; its read is "
                    "stored with no state (%d so far)",
                    STATE_WAIT_S,
                    self.unstated,
                )
                del self._waiting[pid]
                self.finish(self._asked.pop(pid))

    def _ask_state(self, p: Pass) -> None:
        """Ask for the pass's state, once, on its best crop for it: the largest so far (the
        header's words are a few pixels high; state.MIN_HEIGHT), the sharper of equals."""
        if not p.state_asked and self.states is not None:
            p.state_asked = True
            self._asked[p.id] = p
            s = max(p.sightings, key=lambda s: (s.plate.bbox[3] - s.plate.bbox[1], s.sharpness))
            self.states.ask(p.id, plate_box(s.crop, s.plate.bbox, BOX_MARGIN))

    def _take_states(self) -> None:
        """The states read since the last turn: a finished pass is stored; an open pass
        that alerted early has its alert updated (or, held back for its state, shown)."""
        if self.states is None:
            return
        for pid, answer in self.states.answers():
            p = self._asked.pop(pid, None)
            if p is None:
                continue
            p.state_read = answer
            if self._waiting.pop(pid, None) is not None:
                self.finish(p)
            elif p.alerted:
                built = self.build_read(p)
                if built and built[1]:
                    self.alerts.open(*built)
            else:
                self.maybe_alert_early(p)

    def reads_per_min(self) -> int:
        now = time.monotonic()
        self._read_times = [t for t in self._read_times if now - t <= 60]
        return len(self._read_times)

    # -- a pass ---------------------------------------------------------------------------
    def build_read(self, p: Pass) -> tuple[Read, list[Hit]] | None:
        """The pass as a read with its hotlist hits; None in a no-capture zone (POL-03);
        CropUnencodable where its crop cannot be encoded."""
        text, confs = p.text()
        best = p.best()
        fix = self.gps_track.at(best.mono)
        if fix is not None and self._in_no_capture_zone(fix):
            return None
        utc, source = self.utc_clock.stamp(
            best.mono, self.gps_track.last_utc, self.gps_track.last_utc_mono
        )
        ok, jpeg = cv2.imencode(
            ".jpg", best.crop, [cv2.IMWRITE_JPEG_QUALITY, self.cfg.store.crop_quality]
        )
        if not ok:
            raise CropUnencodable(f"could not encode the crop of {text}")
        state, state_conf = p.state_read or (None, None)
        read = Read(
            id=p.id,
            text=text,
            confidence=round(sum(confs) / len(confs), 4) if confs else 0.0,
            char_confidences=confs,
            state=state,
            state_confidence=state_conf,
            utc=utc,
            time_source=source,
            camera_id=p.camera_id,
            unit_id=self.cfg.vehicle.unit_id,
            lat=fix.lat if fix else None,
            lon=fix.lon if fix else None,
            fix_quality=fix.quality if fix else 0,
            crop_jpeg=jpeg.tobytes(),
            bbox=best.plate.bbox,
            frames=len(p.sightings),
        )
        stamped = clock.parse(utc)  # the read's own time decides what has expired
        matches = self._match(
            p, read.text, read.state, stamped.timestamp() if stamped else time.time()
        )
        hits = [
            Hit(
                id=hit_id(read.id, m.entry),
                read_id=read.id,
                entry=m.entry,
                rule=m.rule,
                utc=utc,
                differs=m.differs,
                state_rule=m.state_rule,
                read_state=state,
                read_state_confidence=state_conf,
                candidate=m.candidate,
                candidate_probability=m.probability,
                model=self.model,
            )
            for m in matches
        ]
        return read, hits

    def trusted_utc(self, need_gps: bool = False) -> datetime | None:
        """Now, by the time reads are stamped with (GPS when the system clock cannot be
        trusted); None when neither can be trusted, or (need_gps: the car has a receiver)
        before GPS has said the time. For decisions on stored data (the purge): a system clock
        400 days ahead of GPS purged every read at once (#32 item 13)."""
        if need_gps and self.gps_track.last_utc is None:
            return None
        utc, source = self.utc_clock.stamp(
            time.monotonic(), self.gps_track.last_utc, self.gps_track.last_utc_mono
        )
        return None if source == "system-unset" else clock.parse(utc)

    def _match(self, p: Pass, text: str, state: str | None, now: float) -> list[Any]:
        """The hotlist's matches for a pass's text and candidates; none where matching
        fails (said in one line: the read is kept and the pipeline goes on)."""
        try:
            return self.hotlist.match(text, state, now, p.candidates())
        except Exception as exc:  # noqa: BLE001  a read is worth keeping without its hits
            log.error(
                "hotlist: matching %s failed (%s: %s); no hits", text, type(exc).__name__, exc
            )
            return []

    def _in_no_capture_zone(self, fix: Fix) -> bool:
        return any(inside((fix.lat, fix.lon), z.polygon) for z in self.cfg.capture.no_capture_zones)

    def maybe_alert_early(self, p: Pass) -> None:
        """Alert before the pass ends when its vote is already confident; once per pass."""
        if p.alerted or len(p.sightings) < EARLY_MIN_SIGHTINGS:
            return
        text, confs = p.text()
        if min(confs, default=0.0) < EARLY_MIN_CONFIDENCE:
            return
        if not self._match(p, text, None, 0.0):  # no entry, even without the state and
            return  # expiry rules: no read (crop encode, clock stamp) to build this frame
        try:
            built = self.build_read(p)
        except CropUnencodable:
            return  # the pass is kept open; finish() says it in one line
        if not (built and built[1]):
            return
        if self.states is not None and p.state_read is None:
            self._ask_state(p)
            if (
                self.hotlist.matcher.state_mismatch == "ignore"  # the list's own rule
                and any(h.state_rule == "read-state-unknown" for h in built[1])
            ):
                return  # shown once the state is read (_take_states), or when the pass ends
        p.alerted = True
        pending = self.states is not None and p.state_read is None
        self.alerts.open(*built, state_pending=pending)

    def finish(self, p: Pass) -> None:
        try:
            built = self.build_read(p)
        except CropUnencodable as exc:  # not a POL-03 drop: counted and said on its own
            self.store.bump("crop_unencodable")
            log.error("%s; pass dropped (%d so far)", exc, self.store.counter("crop_unencodable"))
            return
        if built is None:
            self.store.bump("no_capture_zone")  # POL-03: nothing but the count is kept
            log.debug("read dropped in a no-capture zone")
            return
        self.record(*built)

    def record(self, read: Read, hits: list[Hit]) -> None:
        """Store a read with its hits, then tell the page, the uplink and the caller. A hit
        that cannot be stored (full disk) is still shown to the officer, marked not stored."""
        try:
            self.store.add_read(read, hits)
        except StoreError as exc:  # full disk, I/O error: say so, count it, keep running
            self.dropped_reads += 1
            log.error(
                "%s; %d read(s) dropped so far%s",
                exc,
                self.dropped_reads,
                "; its hit is shown to the officer all the same" if hits else "",
            )
            if hits:
                self.alerts.open(read, hits, not_stored=True)
            return
        self.reads += 1
        self.hits += len(hits)
        self._read_times.append(time.monotonic())
        self.show(read, hits)
        if hits:
            self.alerts.open(read, hits)  # once per hit: an early alert is updated, not repeated
        self.wake_uplink()
        if self.on_read:
            self.on_read(read, hits)


class CropUnencodable(ValueError):
    """A pass's crop that OpenCV will not encode as JPEG (the pass cannot be kept)."""


STATE_SAYS = {
    "state-mismatch": " -- STATE DIFFERS (want {0}, read {1})",
    "read-state-unknown": " -- state not read (want {0}): check it",
}


def format_read(read: Read, hits: Sequence[Hit]) -> str:
    """A read and its hits as the console prints them (alprd run --print-reads, the demo)."""
    where = f"{read.lat:.5f},{read.lon:.5f}" if read.lat is not None else "no-fix"
    state = (
        f"{read.state}({read.state_confidence:.0%})"
        if read.state and read.state_confidence is not None
        else read.state or "?"
    )
    line = (
        f"READ {read.text:<8} conf={read.confidence:.2f} state={state} "
        f"cam={read.camera_id} "
        f"frames={read.frames} {read.utc} {where}"
    )
    for h in hits:
        e = h.entry
        rule = (
            f"n-best: {h.candidate} {h.candidate_probability:.0%} likely"
            if h.rule == "n-best" and h.candidate_probability is not None
            else h.rule
        )
        line += (
            f"\nHIT  {read.text:<8} {e.list_type} ({rule}) {e.reason}"
            f"{' case ' + e.case_number if e.case_number else ''}"
            f"{STATE_SAYS.get(h.state_rule, '').format(e.state, state)} -- UNVERIFIED, "
            "verify before any stop"
        )
    return line
