"""The self-test inside the running daemon, for the page's button and HQ's command.

A failure prepares the trouble ticket (Form 11.03.00), saved and queued for HQ; a pass is
queued as a self-test record. Either is audited.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from alprd import clock
from alprd.selftest import checks, ticket

if TYPE_CHECKING:
    from alprd.alert import Officer
    from alprd.audit import AuditLog
    from alprd.capture import Camera
    from alprd.config import Config
    from alprd.gps import GpsReader, GpsTrack
    from alprd.store import Store

log = logging.getLogger(__name__)
TICKET_AGAIN_S = 600.0  # the same failures within this long: the ticket already filed stands


# -- the checks of what the running daemon holds ------------------------------------------
def check_camera_live(cam: Camera, max_age_s: float = 5.0) -> checks.Result:
    """A camera the running daemon holds: is it delivering frames now?"""
    name = f"camera {cam.id}"
    last = getattr(cam, "last_frame_mono", None)
    age = None if last is None else time.monotonic() - last
    why = cam.why  # what the camera's driver said, as the daemon logged it
    details: dict[str, Any] = {
        "source": cam.spec.source,
        "state": cam.state,
        "error": why or None,
        "frames": cam.frames,
        "last_frame_age_s": None if age is None else round(age, 1),
    }
    said = f"; the camera reports: {why}" if why else ""
    if age is None:
        return checks.fail(
            name,
            f"no frame has arrived since start{said}: check the cable and the camera's power",
            **details,
        )
    if age > max_age_s:
        return checks.fail(
            name,
            f"no frame for {age:.0f} s (state {cam.state}{said}): check the cable and the "
            "camera's power",
            **details,
        )
    return checks.ok(name, **details)


def check_gps_live(track: GpsTrack, reader: GpsReader | None) -> checks.Result:
    """The running daemon's GPS: a current fix and its quality."""
    if reader is None:
        return checks.warn("gps", "no GPS configured: reads will have no position")
    fix = track.latest()
    details: dict[str, Any] = {"state": reader.state, "sentences": reader.lines}
    if reader.lines == 0:
        return checks.fail(
            "gps", "GPS silent: nothing received; check wiring and baud rate", **details
        )
    if fix is None or track.is_stale():
        return checks.fail(
            "gps", "no current fix: check the antenna and its view of the sky", **details
        )
    details.update(checks.fix_details(fix, track))
    if fix.hdop is not None and fix.hdop > 5:
        return checks.warn("gps", f"poor fix (HDOP {fix.hdop})", **details)
    return checks.ok("gps", **details)


def run_live(
    cfg: Config,
    cameras: list[Camera],
    track: GpsTrack,
    gps_reader: GpsReader | None,
    min_free_mb: float = 500.0,
) -> list[checks.Result]:
    """The self-test inside the running daemon (the page's button, HQ's command): cameras
    and GPS as the daemon sees them, the rest as `alprd selftest` checks it."""
    results = [check_camera_live(c) for c in cameras]
    if not cameras:
        results.append(checks.fail("cameras", "no camera configured"))
    gps = check_gps_live(track, gps_reader)
    live_gps = cfg.gps.port and not Path(cfg.gps.port).is_file()
    results += [
        gps,
        checks.check_clock(gps.details.get("utc") if live_gps else None),
        checks.check_models(cfg),
        checks.check_storage(cfg, min_free_mb),
        checks.check_keys(cfg),
        checks.check_uplink(cfg),
        checks.check_hotlist(cfg),
    ]
    return results


class LiveSelftest:
    def __init__(
        self,
        cfg: Config,
        cameras: list[Camera],
        gps_track: GpsTrack,
        gps: GpsReader | None,
        store: Store,
        audit: AuditLog,
        tickets_dir: Path,
        wake_uplink: Callable[[], None] = lambda: None,
    ) -> None:
        self.cfg, self.cameras, self.gps_track, self.gps = cfg, cameras, gps_track, gps
        self.store, self.audit, self.tickets_dir = store, audit, tickets_dir
        self.wake_uplink = wake_uplink
        # the last ticket filed: (its failures, when, what the caller was given)
        self._filed: tuple[list[str], float, dict[str, Any]] | None = None

    def __call__(
        self,
        session: Officer | None = None,
        command_id: str | None = None,
        requested_by: str | None = None,
        always_ticket: bool = False,
    ) -> dict[str, Any]:
        """From the page (session), HQ's command (command_id) or `alprd selftest` on the car
        (requested_by: the technician or the timer, through the control socket)."""
        results = run_live(self.cfg, self.cameras, self.gps_track, self.gps)
        failed = [r.component for r in results if r.status == "fail"]
        who = f"{session.name} ({session.badge})" if session else requested_by or "HQ command"
        out: dict[str, Any] = {"results": checks.as_json(results), "failed": failed}
        out["ticket"] = None
        unit_id = self.cfg.vehicle.unit_id
        again = self._same_ticket(failed) if not (always_ticket or command_id) else None
        if again is not None:  # pressed twice, or the timer after the button: one ticket
            out["ticket"] = again
        elif failed or always_ticket:
            t = ticket.make(self.cfg, results, who)
            if command_id:
                t["command_id"] = command_id
            path = ticket.save(t, self.tickets_dir)
            self.store.queue("ticket", t)
            filed = {"id": t["id"], "url": f"/tickets/{path.name}", "print_view": str(path)}
            out["ticket"] = filed
            self._filed = (failed, time.monotonic(), filed)
        if not failed:
            self.store.queue(
                "selftest",
                {
                    "id": str(uuid.uuid4()),
                    "unit_id": unit_id,
                    "utc": clock.iso(datetime.now(timezone.utc)),
                    "command_id": command_id,
                    "results": out["results"],
                },
            )
        self.audit.append(
            session.badge if session else "local" if requested_by else "hq",
            session.role if session else "system",
            "selftest",
            detail={"failed": failed, "command_id": command_id},
        )
        self.wake_uplink()
        log.info(
            "self-test: %s%s",
            f"FAILED: {', '.join(failed)}" if failed else "all OK",
            f" (ticket {again['id']} filed {again['filed_s_ago']} s ago holds these failures: "
            "no second ticket)"
            if again
            else "",
        )
        return out

    def _same_ticket(self, failed: list[str]) -> dict[str, Any] | None:
        """The ticket filed less than TICKET_AGAIN_S ago for the same failures, if any."""
        if not failed or self._filed is None:
            return None
        before, at, given = self._filed
        ago = time.monotonic() - at
        if before != failed or ago >= TICKET_AGAIN_S:
            return None
        return {**given, "already_filed": True, "filed_s_ago": round(ago)}
