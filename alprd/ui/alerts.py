"""Open hit alerts: verify-before-stop, dispositions, escalation and cancellation (POL-11/12).

An alert is UNVERIFIED until the officer has confirmed, in order, that the characters match
visually, that the state matches, and that dispatch or NCIC confirms the want; each step is
timestamped, recorded (dispositions table, uplinked) and audited. Only then is it VERIFIED.
"Want not valid" queues a priority hotlist-error report for Communications Division. An alert
nobody acknowledges within `ui.escalate_after_s` is escalated to dispatch, and that is recorded.
A cancellation from HQ closes the alert with a notice. Alerts still open when the daemon stops
(a power cut mid-alert) are put back on the screen at the next start, with the steps taken.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from alprd.clock import iso
from alprd.store import StoreError
from alprd.ui.events import event

log = logging.getLogger(__name__)

STEPS = {
    "characters": "The characters on the plate match the hotlist record (look at the crop)",
    "state": "The state / jurisdiction matches",
    "want": "Dispatch or NCIC confirms the want is still valid",
}
DISPOSITIONS = {
    "verified_stopped": "Verified, vehicle stopped",
    "verified_not_stopped": "Verified, not stopped",
    "misread": "Misread (plate does not match)",
    "want_not_valid": "Want not valid (hotlist error)",
    "unable_to_locate": "Unable to locate",
}
NEEDS_VERIFIED = {"verified_stopped", "verified_not_stopped"}
CLOSING = set(DISPOSITIONS) | {"cancelled_by_hq"}
RESTORE_WITHIN_H = 12  # a shift: older unclosed hits are not put back on the screen


class AlertError(Exception):
    """An action the alert cannot take now; the message says why (shown on the page)."""


@dataclass
class Alert:
    hit_id: str
    read_id: str
    event: dict
    opened_mono: float
    acknowledged_utc: str | None = None
    steps: dict = field(default_factory=dict)  # step -> utc
    escalated_utc: str | None = None
    closed: str | None = None  # disposition or "cancelled_by_hq"
    # acknowledgements the store could not take (full disk): (session, utc), stored by tick()
    unrecorded: list = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return all(s in self.steps for s in STEPS)

    def public(self) -> dict:
        return {**self.event, "type": "alert", "hit_id": self.hit_id,
                "acknowledged_utc": self.acknowledged_utc, "steps": dict(self.steps),
                "verified": self.verified, "escalated_utc": self.escalated_utc,
                "closed": self.closed, "ack_not_recorded": bool(self.unrecorded)}


class Alerts:
    def __init__(self, store, audit, bus, unit_id: str, escalate_after_s: float = 60.0,
                 mono=time.monotonic, utc=lambda: datetime.now(timezone.utc)) -> None:
        self.store, self.audit, self.bus, self.unit_id = store, audit, bus, unit_id
        self.escalate_after_s = escalate_after_s
        self.mono = mono  # intervals (escalation)
        self.utc = utc  # wall-clock time is data: step stamps and the restore window
        self.open_alerts: dict[str, Alert] = {}
        self._late: list[Alert] = []  # alerts with an acknowledgement still to store
        self._lock = threading.Lock()

    def open(self, event: dict) -> Alert | None:
        """A hit event from the pipeline: open one alert per hit (once per hit: an early
        alert is updated, not repeated) and push them. Returns the first hit's alert."""
        alerts = []
        for hit in event.get("hits") or ():
            one = {**event, "hits": [hit]}  # each hit is verified and disposed on its own
            with self._lock:
                a = self.open_alerts.get(hit["id"])
                if a is None:
                    a = self.open_alerts[hit["id"]] = Alert(hit["id"], event["id"], one,
                                                            self.mono())
                else:
                    a.event = one  # the final read of a pass that alerted early
            self.bus.publish(a.public())
            alerts.append(a)
        return alerts[0] if alerts else None

    def restore(self) -> int:
        """Put back the alerts a stop left open (hits of the last RESTORE_WITHIN_H hours
        without a closing disposition), with their acknowledgement, steps and escalation."""
        since = iso(self.utc() - timedelta(hours=RESTORE_WITHIN_H))
        restored = 0
        for item in self.store.unclosed_hits(since, CLOSING):
            r = item["read"]
            for hit in item["hits"]:
                restored += self._restore_one(r, hit)
        if restored:
            log.warning("alerts: %d hit alert(s) left open by the last stop are back on the "
                        "screen", restored)
        return restored

    def _restore_one(self, r: dict, hit: dict) -> int:
        a = Alert(hit["id"], r["id"], event(r, r["crop"], [hit]), self.mono())
        for d in self.store.dispositions(hit["id"]):
            if d["action"] == "acknowledged":
                a.acknowledged_utc = d["utc"]
            elif d["action"] == "escalated":
                a.escalated_utc = d["utc"]
            elif d["action"].startswith("verify_"):
                a.steps[d["action"][len("verify_"):]] = d["utc"]
        with self._lock:
            if a.hit_id in self.open_alerts:
                return 0
            self.open_alerts[a.hit_id] = a
        return 1

    def current(self) -> list[dict]:
        with self._lock:
            return [a.public() for a in self.open_alerts.values() if not a.closed]

    def _get(self, hit_id: str) -> Alert:
        a = self.open_alerts.get(hit_id)
        if a is None or a.closed:
            raise AlertError("this alert is no longer open")
        return a

    # -- the officer's actions -----------------------------------------------------------
    def acknowledge(self, hit_id: str, session) -> dict:
        """Silence the alarm. On a full disk it is silenced all the same (an alarm that cannot
        be stopped is a danger in itself, #32 item 6): the acknowledgement and its audit
        record are kept in memory, said in one line, and stored by tick() once they fit."""
        with self._lock:
            a = self._get(hit_id)
            if a.acknowledged_utc is None:
                try:
                    a.acknowledged_utc = self._record(a, session, "acknowledged")
                except StoreError as exc:
                    a.acknowledged_utc = iso(self.utc())
                    a.unrecorded.append((session, a.acknowledged_utc))
                    self._late.append(a)
                    log.error("alerts: %s; the alarm of hit %s is silenced, and its "
                              "acknowledgement will be recorded once the store takes it",
                              exc, hit_id)
        return self._push(a)

    def _record_late(self) -> None:
        """Store the acknowledgements a full disk refused (tick's turn, under the lock),
        those of alerts closed since included."""
        while self._late:
            a = self._late[0]
            session, utc = a.unrecorded[0]
            try:
                self._record(a, session, "acknowledged", utc=utc)
            except StoreError:
                return  # still full: the next tick tries again
            a.unrecorded.pop(0)
            self._late.pop(0)
            log.info("alerts: the acknowledgement of hit %s is recorded now", a.hit_id)

    def step(self, hit_id: str, step: str, session) -> dict:
        if step not in STEPS:
            raise AlertError(f"unknown step {step!r}")
        with self._lock:
            a = self._get(hit_id)
            for earlier in STEPS:
                if earlier == step:
                    break
                if earlier not in a.steps:
                    raise AlertError(f"confirm '{earlier}' first")
            if step not in a.steps:
                if a.acknowledged_utc is None:
                    a.acknowledged_utc = self._record(a, session, "acknowledged")
                a.steps[step] = self._record(a, session, f"verify_{step}")
        return self._push(a)

    def dispose(self, hit_id: str, disposition: str, session, note: str = "") -> dict:
        if disposition not in DISPOSITIONS:
            raise AlertError(f"unknown disposition {disposition!r}")
        with self._lock:
            a = self._get(hit_id)
            if disposition in NEEDS_VERIFIED and not a.verified:
                raise AlertError("complete the three verify steps first")
            report = None
            if disposition == "want_not_valid":
                report = self._hotlist_error(a, session, note)
            self._record(a, session, disposition, note=note[:500], report=report)
            a.closed = disposition
            self.open_alerts.pop(hit_id, None)
        if report:
            log.warning("hotlist error reported for %s by %s: priority report %s queued for "
                        "Communications Division", a.event["hits"][0]["plate"], session.badge,
                        report["id"])
        return self._push(a)

    # -- the system's actions ------------------------------------------------------------
    def tick(self) -> list[str]:
        """Escalate alerts nobody acknowledged in time; returns their hit ids."""
        now = self.mono()
        late = []
        with self._lock:
            self._record_late()
            for a in self.open_alerts.values():
                if (a.acknowledged_utc is None and a.escalated_utc is None
                        and now - a.opened_mono >= self.escalate_after_s):
                    late.append(a)
            for a in late:
                h = a.event["hits"][0]
                report = self._report(a, "hit_unacknowledged", "Dispatch",
                                      {"after_s": round(now - a.opened_mono, 1)})
                try:
                    a.escalated_utc = self._record(a, None, "escalated", report=report)
                except Exception:
                    log.exception("alerts: cannot record the escalation of %s", a.hit_id)
                    continue
                log.warning("hit %s on %s unacknowledged for %.0f s: escalated to dispatch",
                            a.hit_id, h["plate"], now - a.opened_mono)
        for a in late:
            self._push(a)
        return [a.hit_id for a in late]

    def cancel(self, removed: list[tuple[str, str | None]]) -> list[str]:
        """HQ cancelled these wants, (plate, state) as its delta removed them (state None:
        every state, as the hotlist index reads it): close their open alerts (the page
        shows a notice). A want of the same plate in another state stays."""
        closed = []
        with self._lock:
            for a in list(self.open_alerts.values()):
                h = a.event["hits"][0]
                if any(h["plate"] == p and (s is None or h.get("state") == s)
                       for p, s in removed):
                    self._record(a, None, "cancelled_by_hq")
                    a.closed = "cancelled_by_hq"
                    self.open_alerts.pop(a.hit_id)
                    closed.append(a)
        for a in closed:
            self._push(a)
        return [a.hit_id for a in closed]

    # -- records -------------------------------------------------------------------------
    def _record(self, a: Alert, session, action: str, note: str = "",
                report: dict | None = None, utc: str | None = None) -> str:
        utc = utc or iso(self.utc())
        user = session.badge if session else "system"
        role = session.role if session else "system"
        # the step and its audit record: one transaction, so a power cut keeps both or neither
        self.store.add_disposition(
            {"id": str(uuid.uuid4()), "hit_id": a.hit_id, "read_id": a.read_id,
             "unit_id": self.unit_id, "utc": utc, "username": user, "role": role,
             "action": action, "note": note}, report,
            also=lambda conn: self.audit.append_in(
                conn, user, role, f"hit_{action}", utc=utc,
                query={"plate": a.event["hits"][0]["plate"]},
                detail={"hit_id": a.hit_id, "read_id": a.read_id}))
        return utc

    def _report(self, a: Alert, kind: str, to: str, extra: dict) -> dict:
        h = a.event["hits"][0]
        return {"id": str(uuid.uuid4()), "type": kind, "for": to, "unit_id": self.unit_id,
                "utc": iso(self.utc()), "hit_id": a.hit_id, "read_id": a.read_id,
                "read_text": a.event["text"], "camera_id": a.event["camera_id"],
                "read_utc": a.event["utc"], "lat": a.event["lat"], "lon": a.event["lon"],
                "hotlist": {k: h[k] for k in ("plate", "state", "list_type", "reason",
                                              "case_number")}, **extra}

    def _hotlist_error(self, a: Alert, session, note: str) -> dict:
        """POL-12: a verified error in a want goes to Communications Division at once."""
        return self._report(a, "hotlist_error", "Communications Division",
                            {"badge": session.badge, "name": session.name, "note": note[:500]})

    def _push(self, a: Alert) -> dict:
        ev = a.public()
        self.bus.publish(ev)
        return ev
