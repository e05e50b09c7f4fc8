"""Sign-in and sessions on the vehicle.

Sign-in refusals say why (POL-05, POL-07, CJIS AC-7): a deactivated account (audited, and a
priority report to HQ for Professional Standards Bureau at once), no training recorded, no use
for more than a year (reorientation), five failed attempts within 15 minutes (locked). None of
these can be turned off by configuration. A user the next roster removes or deactivates is
signed out (POL-15).

Guessing: the attempts on one badge run one at a time (is it locked, the argon2 check and the
count are one step), at most VERIFY_SLOTS argon2 checks run at once (each takes 64 MiB), the
failure counts survive a restart, and a badge not on the roster gets the same answer after the
same argon2 work as a wrong PIN (it is counted and locked the same way).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from alprd.files import replace_atomically
from alprd.protocol import strictjson
from alprd.roster.roles import ROLE_NAMES, ROLES
from alprd.roster.roster import Roster, User

if TYPE_CHECKING:
    from alprd.audit import AuditLog
    from alprd.config import UiConfig

log = logging.getLogger(__name__)

MAX_FAILURES = 5  # CJIS AC-7: five failed attempts ...
FAILURE_WINDOW_S = 15 * 60  # ... within 15 minutes lock the account ...
LOCK_S = 15 * 60  # ... for 15 minutes
UNUSED_DAYS = 365  # POL-07: a year unused needs reorientation training
VERIFY_SLOTS = 2  # argon2 checks at once: 2 x 64 MiB, whatever the number of requests
WAIT_S = 10.0  # how long a sign-in waits for its badge or a slot before "busy"
TRACKED_BADGES = 10_000  # failure records kept (random badges cannot grow memory without end)


@dataclass
class Session:
    token: str
    csrf: str
    badge: str
    name: str
    role: str
    started_mono: float
    last_mono: float

    def may(self, action: str) -> bool:
        return action in ROLES.get(self.role, ())

    def public(self) -> dict[str, Any]:
        return {
            "badge": self.badge,
            "name": self.name,
            "role": self.role,
            "role_name": ROLE_NAMES[self.role],
            "may": sorted(ROLES[self.role]),
            "csrf": self.csrf,
        }


class Refused(Exception):
    """A sign-in refusal; code is one of credentials (unknown badge or wrong PIN: the page is
    not told which), locked, busy, deactivated, training, reorientation, no_roster; the
    message is what the page shows."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Failures:
    times: deque[Any] = field(default_factory=deque)
    locked_until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Auth:
    """Sign-in, sessions and lockout. Every outcome is audited; a deactivated user's attempt
    also queues a priority report for Professional Standards Bureau."""

    @classmethod
    def from_config(
        cls, ui: UiConfig, roster: Roster, audit: AuditLog, unit_id: str, state_dir: Path
    ) -> Auth:
        return cls(
            roster,
            audit,
            unit_id,
            ui.session_idle_s,
            failures_path=state_dir / "signin-failures.json",
        )

    def __init__(
        self,
        roster: Roster,
        audit: AuditLog,
        unit_id: str,
        idle_s: float = 1800.0,
        mono: Callable[[], float] = time.monotonic,
        utc: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        failures_path: Path | None = None,
    ) -> None:
        self.roster, self.audit, self.unit_id, self.idle_s = roster, audit, unit_id, idle_s
        self.mono, self.utc = mono, utc
        # a hit is open: nobody who sees hits is signed out for idleness (the car gives it)
        self.hit_open: Callable[[], bool] = lambda: False
        self.hasher = PasswordHasher()
        self._decoy = self.hasher.hash(secrets.token_urlsafe(16))  # for badges not on the roster
        self.sessions: dict[str, Session] = {}
        self.ended: dict[str, str] = {}  # token -> why it ended (shown once by the page)
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(VERIFY_SLOTS)
        self.failures_path = failures_path
        self._failures: dict[str, _Failures] = self._load_failures()

    # -- signing in ----------------------------------------------------------------------
    def sign_in(self, badge: str, pin: str) -> Session:
        badge = (badge or "").strip()[:32]
        with self._lock:
            f = self._failures.get(badge) or self._track(badge)
        if not f.lock.acquire(timeout=WAIT_S):
            self._refuse(
                badge, "busy", "The system is busy checking other sign-ins: try again in a moment."
            )
        try:
            return self._sign_in(badge, pin, f)
        finally:
            f.lock.release()

    def _track(self, badge: str) -> _Failures:
        if len(self._failures) >= TRACKED_BADGES:  # forget the quietest badge with no lock
            now = self.mono()
            idle = [
                b
                for b, g in self._failures.items()
                if g.locked_until <= now and not g.lock.locked()
            ]
            if idle:
                self._failures.pop(
                    min(
                        idle,
                        key=lambda b: (
                            self._failures[b].times[-1] if self._failures[b].times else 0.0
                        ),
                    )
                )
        f = self._failures[badge] = _Failures()
        return f

    def _sign_in(self, badge: str, pin: str, f: _Failures) -> Session:
        now = self.mono()
        if f.locked_until > now:
            minutes = max(1, round((f.locked_until - now) / 60))
            self._refuse(
                badge,
                "locked",
                f"Account {badge} is locked after {MAX_FAILURES} "
                f"failed attempts. Try again in {minutes} min or call the ALPR "
                "system administrator.",
            )
        user = self.roster.get(badge) if badge else None
        if not self.roster.version:
            self._refuse(
                badge,
                "no_roster",
                "No user list from HQ yet: sign-in is not "
                "possible until the vehicle has synced with HQ.",
            )
        pin_hash = user.pin_hash if user else self._decoy
        pin_ok = self._pin_ok(badge, pin_hash, pin or "") and user is not None
        if user is not None and user.status == "deactivated":
            self._report_deactivated(user, pin_ok)
            self._refuse(
                badge,
                "deactivated",
                "This account is deactivated. The attempt has "
                "been recorded and reported to Professional Standards Bureau.",
            )
        if not pin_ok or user is None:  # (pin_ok implies a user)
            left = self._fail(badge, f, self.mono())
            self._refuse(
                badge,
                "credentials",
                "Badge number or PIN not recognised."
                + (
                    f" {left} attempt(s) left before the account locks."
                    if left
                    else f" The account is now locked for {LOCK_S // 60} min."
                ),
                why="unknown_badge" if user is None else "wrong_pin",
            )
        if f.times:
            f.times.clear()
            self._save_failures()
        if not user.trained_utc:
            self._refuse(
                badge,
                "training",
                "No ALPR training is recorded for you. Complete "
                "the POST-certified ALPR course before using the system.",
            )
        last = self.roster.last_use(user)
        if last is not None and self.utc() - last > timedelta(days=UNUSED_DAYS):
            self._refuse(
                badge,
                "reorientation",
                f"Not used since {last.date()} (over a "
                "year): complete the ALPR reorientation course first.",
            )
        s = Session(
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(24),
            user.badge,
            user.name,
            user.role,
            now,
            now,
        )
        self.audit.append(user.badge, user.role, "sign_in")
        with self._lock:
            self.sessions[s.token] = s
        self.roster.mark_used(user.badge, self.utc())
        log.info("sign-in: %s (%s)", user.badge, user.role)
        return s

    def _pin_ok(self, badge: str, pin_hash: str, pin: str) -> bool:
        if not self._slots.acquire(timeout=WAIT_S):
            self._refuse(
                badge, "busy", "The system is busy checking other sign-ins: try again in a moment."
            )
        try:
            return self.hasher.verify(pin_hash, pin)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        finally:
            self._slots.release()

    def _fail(self, badge: str, f: _Failures, now: float) -> int:
        f.times.append(now)
        while f.times and now - f.times[0] > FAILURE_WINDOW_S:
            f.times.popleft()
        if len(f.times) >= MAX_FAILURES:
            f.locked_until = now + LOCK_S
            f.times.clear()
            self.audit.append(
                badge or "-",
                "-",
                "account_locked",
                detail={"failures": MAX_FAILURES, "lock_s": LOCK_S},
            )
            log.warning("sign-in: account %s locked after %d failed attempts", badge, MAX_FAILURES)
            left = 0
        else:
            left = MAX_FAILURES - len(f.times)
        self._save_failures()
        return left

    # failures on disk: ages rather than clock times, so a restart (or a clock stepped at
    # boot) never shortens a lock; the time the car was off counts as no time at all
    def _save_failures(self) -> None:
        if self.failures_path is None:
            return
        now = self.mono()
        with self._lock:
            data = {
                b: {
                    "lock_left_s": round(max(0.0, f.locked_until - now), 1),
                    "failure_ages_s": [round(now - t, 1) for t in f.times],
                }
                for b, f in self._failures.items()
                if f.times or f.locked_until > now
            }
        try:
            replace_atomically(self.failures_path, json.dumps(data).encode(), mode=0o600)
        except OSError as exc:  # the counts in memory still hold until the restart
            log.error("sign-in: cannot save failure counts to %s (%s)", self.failures_path, exc)

    def _load_failures(self) -> dict[str, _Failures]:
        if self.failures_path is None or not self.failures_path.exists():
            return {}
        now, out = self.mono(), {}
        try:
            for badge, d in strictjson.loads(
                self.failures_path.read_bytes(), str(self.failures_path)
            ).items():
                ages = sorted(
                    (min(float(a), FAILURE_WINDOW_S) for a in d["failure_ages_s"]), reverse=True
                )
                out[str(badge)] = _Failures(
                    deque(now - a for a in ages), now + min(float(d["lock_left_s"]), LOCK_S)
                )
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.error(
                "sign-in: failure counts in %s unreadable (%s): starting from none",
                self.failures_path,
                exc,
            )
            return {}
        return out

    def _refuse(self, badge: str, code: str, message: str, why: str | None = None) -> NoReturn:
        user = self.roster.get(badge)
        self.audit.append(
            badge or "-",
            user.role if user else "-",
            "sign_in_refused",
            detail={"reason": why or code},
        )
        log.warning("sign-in refused for %r: %s", badge, code)
        raise Refused(code, message)

    def _report_deactivated(self, user: User, pin_ok: bool) -> None:
        """POL-05: a priority report for Professional Standards Bureau, queued at once."""
        rid = str(uuid.uuid4())
        body = {
            "id": rid,
            "type": "deactivated_sign_in",
            "for": "Professional Standards Bureau",
            "unit_id": self.unit_id,
            "utc": self.utc().isoformat(timespec="seconds"),
            "badge": user.badge,
            "name": user.name,
            "role": user.role,
            "pin_correct": pin_ok,
        }
        self.audit.store.queue("report", body)
        log.warning(
            "sign-in by deactivated account %s: reported to Professional Standards "
            "Bureau (report %s)",
            user.badge,
            rid,
        )

    # -- sessions ------------------------------------------------------------------------
    def session(self, token: str | None, touch: bool = True) -> Session | None:
        """The live session for a token; None when absent, ended or idle too long. touch:
        this is the user's own request, so the idle time starts again (the event stream
        only looks, or an open page would never go idle)."""
        if not token:
            return None
        with self._lock:
            s = self.sessions.get(token)
            if s is None:
                return None
            now = self.mono()
            if now - s.last_mono > self.idle_s:
                if s.may("live") and self.hit_open():
                    s.last_mono = now  # the idle time starts once the hits are closed
                else:
                    self._end(s, "idle")
                    return None
            if touch:
                s.last_mono = now
            return s

    def sign_out(self, token: str, reason: str = "signed_out") -> None:
        with self._lock:
            s = self.sessions.get(token)
            if s:
                self._end(s, reason)

    def _end(self, s: Session, reason: str) -> None:
        self.sessions.pop(s.token, None)
        self.ended[s.token] = reason
        try:
            self.audit.append(s.badge, s.role, "sign_out", detail={"reason": reason})
        except Exception:  # the sign-out happens regardless; the store logs its error
            log.exception("audit: cannot record the sign-out of %s", s.badge)

    def roster_applied(self, removed: set[str], changed: set[str]) -> list[str]:
        """POL-15: end the sessions of users the roster removed, deactivated or changed."""
        ended = []
        with self._lock:
            for s in list(self.sessions.values()):
                u = self.roster.get(s.badge)
                if s.badge in removed or u is None:
                    self._end(s, "removed_from_roster")
                elif u.status != "active" or u.role != s.role:
                    self._end(s, "deactivated" if u.status != "active" else "role_changed")
                else:
                    continue
                ended.append(s.badge)
        return ended
