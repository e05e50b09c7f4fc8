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
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from alprd.alert import (
    CLOSING,
    DISPOSITIONS,
    NEEDS_VERIFIED,
    RESTORE_WITHIN_H,
    STEPS,
    Alert,
    AlertError,
    Officer,
    corrected_plate,
    forget_before,
    report_body,
)
from alprd.clock import iso
from alprd.store import StoreError
from alprd.types import Hit, Read

if TYPE_CHECKING:
    import sqlite3

    from alprd.audit import AuditLog
    from alprd.config import UiConfig
    from alprd.store import Store

log = logging.getLogger(__name__)


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
        return cls(store, audit, unit_id, publish, ui.escalate_after_s, ui.repeat_suppress_min * 60)

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        unit_id: str,
        publish: Callable[[Alert], None] = lambda a: None,
        escalate_after_s: float = 60.0,
        repeat_suppress_s: float = 600.0,
        mono: Callable[[], float] = time.monotonic,
        utc: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        """publish: shows an alert that opened or changed (the daemon's: the page's bus)."""
        self.store, self.audit, self.unit_id, self.publish = store, audit, unit_id, publish
        self.escalate_after_s, self.repeat_suppress_s = escalate_after_s, repeat_suppress_s
        self._alerted: dict[tuple[str, str | None, str], float] = {}  # want -> last alert
        self._suppressed: dict[str, float] = {}  # hit id -> when (an early alert's final read)
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
        alert is updated, not repeated) and publish them. Returns the first hit's alert.

        A hit on a want that alerted less than repeat_suppress_s ago is a repeat: no second
        alarm. It is closed as `repeat_suppressed` (recorded, audited, sent to HQ); an alert
        of that want still open says the plate was seen again."""
        alerts = []
        for hit in hits:
            with self._lock:
                a = self.open_alerts.get(hit.id)
                if a is None and hit.id in self._suppressed:
                    continue  # the final read of a pass whose early hit was a repeat
                if a is None:
                    new = Alert(read, hit, self.mono())
                    shown = self._repeat_of(new)
                    if shown is not None:
                        self._suppress(new, shown)
                        if shown.closed:
                            continue
                        a = shown
                    else:
                        a = self.open_alerts[hit.id] = new
                        self._alerted[new.want] = new.opened_mono
                        a.state_pending, a.not_stored = state_pending, not_stored
                else:  # the final read of a pass that alerted early
                    a.read, a.hit = read, hit
                    a.state_pending, a.not_stored = state_pending, not_stored
            self.publish(a)
            alerts.append(a)
        return alerts[0] if alerts else None

    def _repeat_of(self, new: Alert) -> Alert | None:
        """The alert of the same want shown within repeat_suppress_s (open, or closed: then a
        stand-in that only names it), or None."""
        if self.repeat_suppress_s <= 0:
            return None
        for a in self.open_alerts.values():
            if a.want == new.want:
                return a
        last = self._alerted.get(new.want)
        if last is not None and new.opened_mono - last < self.repeat_suppress_s:
            return Alert(new.read, new.hit, last, closed="earlier")
        return None

    def _suppress(self, new: Alert, shown: Alert) -> None:
        self._suppressed[new.hit_id] = new.opened_mono
        try:
            self._record(new, None, "repeat_suppressed")
        except StoreError as exc:  # the hit shows as an alert again after a restart
            log.error("alerts: cannot record a suppressed repeat (%s)", exc)
        if not shown.closed:
            shown.repeats += 1
            shown.seen_again_utc = new.read.utc
        log.info(
            "alerts: %s seen again %s: no second alert within %d min (hit %s recorded)",
            new.hit.entry.plate,
            "while its alert is open" if not shown.closed else "after its alert",
            self.repeat_suppress_s // 60,
            new.hit_id,
        )

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

    def dispose(
        self,
        hit_id: str,
        disposition: str,
        session: Officer,
        note: str = "",
        corrected_text: str | None = None,
    ) -> Alert:
        """Close the alert. corrected_text (a misread only, optional): the characters the
        officer sees on the plate, a label for HQ's field accuracy (#37)."""
        if disposition not in DISPOSITIONS:
            raise AlertError(f"unknown disposition {disposition!r}")
        corrected = corrected_plate(corrected_text, disposition)
        with self._lock:
            a = self._get(hit_id)
            if disposition in NEEDS_VERIFIED and not a.verified:
                raise AlertError("complete the three verify steps first")
            report = None
            if disposition == "want_not_valid":
                report = self._hotlist_error(a, session, note)
            self._record(
                a,
                session,
                disposition,
                note=note[:500],
                report=report,
                extra={"corrected_text": corrected} if corrected else None,
            )
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
            forget_before((self._alerted, self._suppressed), now - self.repeat_suppress_s)
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
        extra: dict[str, Any] | None = None,
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
                **(extra or {}),
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
        return report_body(a, self.unit_id, iso(self.utc()), kind, to, extra)

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
