"""The self-test inside the running daemon, for the page's button and HQ's command.

A failure prepares the trouble ticket (Form 11.03.00), saved and queued for HQ; a pass is
queued as a self-test record. Either is audited.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from alprd import clock
from alprd.selftest import checks, ticket

log = logging.getLogger(__name__)


class LiveSelftest:
    def __init__(self, cfg, cameras, gps_track, gps, store, audit, tickets_dir: Path,
                 wake_uplink: Callable[[], None] = lambda: None) -> None:
        self.cfg, self.cameras, self.gps_track, self.gps = cfg, cameras, gps_track, gps
        self.store, self.audit, self.tickets_dir = store, audit, tickets_dir
        self.wake_uplink = wake_uplink

    def __call__(self, session=None, command_id: str | None = None,
                 requested_by: str | None = None, always_ticket: bool = False) -> dict[str, Any]:
        """From the page (session), HQ's command (command_id) or `alprd selftest` on the car
        (requested_by: the technician or the timer, through the control socket)."""
        results = checks.run_live(self.cfg, self.cameras, self.gps_track, self.gps)
        failed = [r.component for r in results if r.status == "fail"]
        who = (f"{session.name} ({session.badge})" if session
               else requested_by or "HQ command")
        out = {"results": checks.as_json(results), "failed": failed, "ticket": None}
        unit_id = self.cfg.vehicle.unit_id
        if failed or always_ticket:
            t = ticket.make(self.cfg, results, who)
            if command_id:
                t["command_id"] = command_id
            path = ticket.save(t, self.tickets_dir)
            self.store.queue("ticket", t)
            out["ticket"] = {"id": t["id"], "url": f"/tickets/{path.name}",
                             "print_view": str(path)}
        if not failed:
            self.store.queue("selftest", {
                "id": str(uuid.uuid4()), "unit_id": unit_id,
                "utc": clock.iso(datetime.now(timezone.utc)), "command_id": command_id,
                "results": out["results"]})
        self.audit.append(session.badge if session else "local" if requested_by else "hq",
                          session.role if session else "system", "selftest",
                          detail={"failed": failed, "command_id": command_id})
        self.wake_uplink()
        log.info("self-test: %s", f"FAILED: {', '.join(failed)}" if failed else "all OK")
        return out
