"""Open hit alerts: verify-before-stop, dispositions, escalation and cancellation (POL-11/12).

An alert is UNVERIFIED until the officer has confirmed, in order, that the characters match
visually, that the state matches, and that dispatch or NCIC confirms the want; each step is
timestamped, recorded (dispositions table, uplinked) and audited. Only then is it VERIFIED.
"Want not valid" queues a priority hotlist-error report for Communications Division. An alert
nobody acknowledges within `ui.escalate_after_s` is escalated to dispatch, and that is recorded.
A cancellation from HQ closes the alert with a notice. Alerts still open when the daemon stops
(a power cut mid-alert) are put back on the screen at the next start, with the steps taken.

The workflow speaks typed values (a Read and one of its Hits per alert); how an alert looks on
the page is the page's business (alprd.ui.events.alert_event), given here as `publish`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

from alprd.clock import iso
from alprd.store import StoreError
from alprd.types import Hit, Read

if TYPE_CHECKING:
    import sqlite3

    from alprd.audit import AuditLog
    from alprd.config import UiConfig
    from alprd.store import Store

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


class Officer(Protocol):
    """Who acted on an alert: a signed-in session (alprd.roster.auth.Session)."""

    @property
    def badge(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...


@dataclass
class Alert:
    read: Read  # the pass's read (an early alert's is replaced by the final one)
    hit: Hit  # one hit: each is verified and disposed on its own
    opened_mono: float
    state_pending: bool = False  # an early alert whose state is still being read
    not_stored: bool = False  # the read could not be stored (full disk): shown all the same
    acknowledged_utc: str | None = None
    steps: dict[str, Any] = field(default_factory=dict)  # step -> utc
    escalated_utc: str | None = None
    closed: str | None = None  # disposition or "cancelled_by_hq"
    # acknowledgements the store could not take (full disk): (session, utc), stored by tick()
    unrecorded: list[tuple[Officer, str]] = field(default_factory=list)

    @property
    def hit_id(self) -> str:
        return self.hit.id

    @property
    def read_id(self) -> str:
        return self.read.id

    @property
    def verified(self) -> bool:
        return all(s in self.steps for s in STEPS)


class Alerts:
    @classmethod
    def from_config(
        cls,
        ui: UiConfig,
        store: Store,
        audit: AuditLog,
        unit_id: str,
        publish: Callable[[Alert], None],
    ) -> Alerts:
        return cls(store, audit, unit_id, publish, ui.escalate_after_s)

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        unit_id: str,
        publish: Callable[[Alert], None] = lambda a: None,
        escalate_after_s: float = 60.0,
        mono: Callable[[], float] = time.monotonic,
        utc: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        """publish: shows an alert that opened or changed (the daemon's: the page's bus)."""
        self.store, self.audit, self.unit_id, self.publish = store, audit, unit_id, publish
        self.escalate_after_s = escalate_after_s
        self.mono = mono  # intervals (escalation)
        self.utc = utc  # wall-clock time is data: step stamps and the restore window
        self.open_alerts: dict[str, Alert] = {}
        self._late: list[Alert] = []  # alerts with an acknowledgement still to store
        self._lock = threading.Lock()

    def open(
        self,
        read: Read,
        hits: Sequence[Hit],
        *,
        state_pending: bool = False,
        not_stored: bool = False,
    ) -> Alert | None:
        """A read's hits from the pipeline: open one alert per hit (once per hit: an early
        alert is updated, not repeated) and publish them. Returns the first hit's alert."""
        alerts = []
        for hit in hits:
            with self._lock:
                a = self.open_alerts.get(hit.id)
                if a is None:
                    a = self.open_alerts[hit.id] = Alert(read, hit, self.mono())
                else:  # the final read of a pass that alerted early
                    a.read, a.hit = read, hit
                a.state_pending, a.not_stored = state_pending, not_stored
            self.publish(a)
            alerts.append(a)
        return alerts[0] if alerts else None

    def restore(self) -> int:
        """Put back the alerts a stop left open (hits of the last RESTORE_WITHIN_H hours
        without a closing disposition), with their acknowledgement, steps and escalation."""
        since = iso(self.utc() - timedelta(hours=RESTORE_WITHIN_H))
        restored = 0
        for read, hits in self.store.unclosed_hits(since, CLOSING):
            for hit in hits:
                restored += self._restore_one(read, hit)
        if restored:
            log.warning(
                "alerts: %d hit alert(s) left open by the last stop are back on the screen",
                restored,
            )
        return restored

    def _restore_one(self, read: Read, hit: Hit) -> int:
        a = Alert(read, hit, self.mono())
        for d in self.store.dispositions(hit.id):
            if d["action"] == "acknowledged":
                a.acknowledged_utc = d["utc"]
            elif d["action"] == "escalated":
                a.escalated_utc = d["utc"]
            elif d["action"].startswith("verify_"):
                a.steps[d["action"][len("verify_") :]] = d["utc"]
        with self._lock:
            if a.hit_id in self.open_alerts:
                return 0
            self.open_alerts[a.hit_id] = a
        return 1

    def current(self) -> list[Alert]:
        with self._lock:
            return [a for a in self.open_alerts.values() if not a.closed]

    def _get(self, hit_id: str) -> Alert:
        a = self.open_alerts.get(hit_id)
        if a is None or a.closed:
            raise AlertError("this alert is no longer open")
        return a

    # -- the officer's actions -----------------------------------------------------------
    def acknowledge(self, hit_id: str, session: Officer) -> Alert:
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
                    log.error(
                        "alerts: %s; the alarm of hit %s is silenced, and its "
                        "acknowledgement will be recorded once the store takes it",
                        exc,
                        hit_id,
                    )
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

    def step(self, hit_id: str, step: str, session: Officer) -> Alert:
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

    def dispose(self, hit_id: str, disposition: str, session: Officer, note: str = "") -> Alert:
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
            log.warning(
                "hotlist error reported for %s by %s: priority report %s queued for "
                "Communications Division",
                a.hit.entry.plate,
                session.badge,
                report["id"],
            )
        return self._push(a)

    # -- the system's actions ------------------------------------------------------------
    def tick(self) -> list[str]:
        """Escalate alerts nobody acknowledged in time; returns their hit ids."""
        now = self.mono()
        late: list[Alert] = []
        with self._lock:
            self._record_late()
            for a in self.open_alerts.values():
                if (
                    a.acknowledged_utc is None
                    and a.escalated_utc is None
                    and now - a.opened_mono >= self.escalate_after_s
                ):
                    late.append(a)
            for a in late:
                report = self._report(
                    a, "hit_unacknowledged", "Dispatch", {"after_s": round(now - a.opened_mono, 1)}
                )
                try:
                    a.escalated_utc = self._record(a, None, "escalated", report=report)
                except Exception:
                    log.exception("alerts: cannot record the escalation of %s", a.hit_id)
                    continue
                log.warning(
                    "hit %s on %s unacknowledged for %.0f s: escalated to dispatch",
                    a.hit_id,
                    a.hit.entry.plate,
                    now - a.opened_mono,
                )
        for a in late:
            self._push(a)
        return [a.hit_id for a in late]

    def cancel(self, removed: list[tuple[str, str | None]]) -> list[str]:
        """HQ cancelled these wants, (plate, state) as its delta removed them (state None:
        every state, as the hotlist index reads it): close their open alerts (the page
        shows a notice). A want of the same plate in another state stays."""
        closed: list[Alert] = []
        with self._lock:
            for a in list(self.open_alerts.values()):
                e = a.hit.entry
                if any(e.plate == p and (s is None or e.state == s) for p, s in removed):
                    self._record(a, None, "cancelled_by_hq")
                    a.closed = "cancelled_by_hq"
                    self.open_alerts.pop(a.hit_id)
                    closed.append(a)
        for a in closed:
            self._push(a)
        return [a.hit_id for a in closed]

    # -- records -------------------------------------------------------------------------
    def _record(
        self,
        a: Alert,
        session: Officer | None,
        action: str,
        note: str = "",
        report: dict[str, Any] | None = None,
        utc: str | None = None,
    ) -> str:
        utc = utc or iso(self.utc())
        user = session.badge if session else "system"
        role = session.role if session else "system"
        # the step and its audit record: one transaction, so a power cut keeps both or neither
        self.store.add_disposition(
            {
                "id": str(uuid.uuid4()),
                "hit_id": a.hit_id,
                "read_id": a.read_id,
                "unit_id": self.unit_id,
                "utc": utc,
                "username": user,
                "role": role,
                "action": action,
                "note": note,
            },
            report,
            also=lambda conn: self._audit(conn, a, user, role, action, utc),
        )
        return utc

    def _audit(
        self, conn: sqlite3.Connection, a: Alert, user: str, role: str, action: str, utc: str
    ) -> None:
        self.audit.append_in(
            conn,
            user,
            role,
            f"hit_{action}",
            utc=utc,
            query={"plate": a.hit.entry.plate},
            detail={"hit_id": a.hit_id, "read_id": a.read_id},
        )

    def _report(self, a: Alert, kind: str, to: str, extra: dict[str, Any]) -> dict[str, Any]:
        r, e = a.read, a.hit.entry
        return {
            "id": str(uuid.uuid4()),
            "type": kind,
            "for": to,
            "unit_id": self.unit_id,
            "utc": iso(self.utc()),
            "hit_id": a.hit_id,
            "read_id": a.read_id,
            "read_text": r.text,
            "camera_id": r.camera_id,
            "read_utc": r.utc,
            "lat": r.lat,
            "lon": r.lon,
            "hotlist": {
                "plate": e.plate,
                "state": e.state,
                "list_type": e.list_type,
                "reason": e.reason,
                "case_number": e.case_number,
            },
            **extra,
        }

    def _hotlist_error(self, a: Alert, session: Officer, note: str) -> dict[str, Any]:
        """POL-12: a verified error in a want goes to Communications Division at once."""
        return self._report(
            a,
            "hotlist_error",
            "Communications Division",
            {"badge": session.badge, "name": session.name, "note": note[:500]},
        )

    def _push(self, a: Alert) -> Alert:
        self.publish(a)
        return a
