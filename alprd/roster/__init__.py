"""Who may sign in on the vehicle: the roster HQ syncs, roles, sign-in and sessions.

The roster is a signed message from HQ (docs/protocol.md: roster.v1, the same Ed25519 key as the
hotlist): badge, name, role, argon2 PIN hash, training date, last use and status per user. The
vehicle keeps the last good roster on disk and verifies it again at every start.

Sign-in refusals say why (POL-05, POL-07, CJIS AC-7): a deactivated account (audited, and a
priority report to HQ for Professional Standards Bureau at once), no training recorded, no use
for more than a year (reorientation), five failed attempts within 15 minutes (locked). None of
these can be turned off by configuration. A user the next roster removes or deactivates is
signed out (POL-15).
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

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from alprd.files import replace_atomically
from alprd.hotlist.sync import UpdateRefused, verify

log = logging.getLogger(__name__)

# What each role may do (POL-06). No role may add, change or delete a read or the hotlist:
# the page has no such action at all.
ROLES = {
    "patrol_officer": frozenset({"live", "verify"}),
    "data_user": frozenset({"live", "verify", "search", "view"}),
    "administrator": frozenset({"live", "verify", "search", "view", "export", "selftest"}),
    "fleet_technician": frozenset({"selftest"}),
}
ROLE_NAMES = {"patrol_officer": "Patrol officer", "data_user": "Data user",
              "administrator": "System administrator", "fleet_technician": "Fleet technician"}

MAX_FAILURES = 5  # CJIS AC-7: five failed attempts ...
FAILURE_WINDOW_S = 15 * 60  # ... within 15 minutes lock the account ...
LOCK_S = 15 * 60  # ... for 15 minutes
UNUSED_DAYS = 365  # POL-07: a year unused needs reorientation training


@dataclass(frozen=True)
class User:
    badge: str
    name: str
    role: str
    pin_hash: str
    trained_utc: str | None
    last_use_utc: str | None
    status: str  # "active" or "deactivated"


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

    def public(self) -> dict:
        return {"badge": self.badge, "name": self.name, "role": self.role,
                "role_name": ROLE_NAMES[self.role], "may": sorted(ROLES[self.role]),
                "csrf": self.csrf}


class Refused(Exception):
    """A sign-in refusal; code is one of unknown, pin, locked, deactivated, training,
    reorientation, no_roster; the message is what the page shows."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _user(d) -> User:
    if not isinstance(d, dict):
        raise UpdateRefused("a roster user is not an object")
    badge = d.get("badge")
    if not (isinstance(badge, str) and 1 <= len(badge) <= 32 and badge.isalnum()):
        raise UpdateRefused(f"bad badge {badge!r}")
    if d.get("role") not in ROLES:
        raise UpdateRefused(f"bad role {d.get('role')!r} for {badge}")
    if d.get("status") not in ("active", "deactivated"):
        raise UpdateRefused(f"bad status {d.get('status')!r} for {badge}")
    pin_hash = d.get("pin_hash")
    if not (isinstance(pin_hash, str) and pin_hash.startswith("$argon2")):
        raise UpdateRefused(f"user {badge}: pin_hash is not an argon2 hash")
    return User(badge, str(d.get("name") or badge), d["role"], pin_hash,
                d.get("trained_utc") or None, d.get("last_use_utc") or None, d["status"])


def _parse_day(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


class Roster:
    """The last good roster from HQ, verified, persisted, with local last-use times."""

    def __init__(self, public_key, state_dir: Path) -> None:
        self.public_key = public_key
        self.path = Path(state_dir) / "roster.bin"
        self.last_use_path = Path(state_dir) / "roster-last-use.json"
        self.version = 0
        self.users: dict[str, User] = {}
        self.local_last_use: dict[str, str] = {}
        self._lock = threading.Lock()

    def load_saved(self) -> bool:
        try:
            self.local_last_use = json.loads(self.last_use_path.read_text())
        except (OSError, ValueError):
            self.local_last_use = {}
        if not self.path.exists():
            return False
        try:
            self.apply(self.path.read_bytes(), save=False)
        except UpdateRefused as exc:
            log.error("roster: saved roster %s refused (%s); waiting for HQ", self.path, exc)
            return False
        return True

    def apply(self, message: bytes, save: bool = True) -> tuple[set[str], set[str]]:
        """Verify and apply a roster; (removed badges, changed badges). UpdateRefused if
        forged, malformed or older than the one in force."""
        body = verify(message, self.public_key)
        if body.get("kind") != "roster":
            raise UpdateRefused(f"not a roster: kind {body.get('kind')!r}")
        version = body.get("roster_version")
        if not isinstance(version, int) or version <= 0:
            raise UpdateRefused("roster_version must be a positive integer")
        if version <= self.version:
            raise UpdateRefused(f"roster {version} is not newer than {self.version} (replay)")
        users_json = body.get("users")
        if not isinstance(users_json, list):
            raise UpdateRefused("roster has no users list")
        users = {u.badge: u for u in map(_user, users_json)}
        with self._lock:
            removed = set(self.users) - set(users)
            changed = {b for b, u in users.items() if b in self.users and self.users[b] != u}
            self.users, self.version = users, version
        if save:
            replace_atomically(self.path, message)
        log.info("roster: version %d, %d user(s)", version, len(users))
        return removed, changed

    def get(self, badge: str) -> User | None:
        with self._lock:
            return self.users.get(badge)

    def last_use(self, u: User) -> datetime | None:
        times = [t for t in (_parse_day(u.last_use_utc),
                             _parse_day(self.local_last_use.get(u.badge))) if t]
        return max(times) if times else None

    def mark_used(self, badge: str, utc: datetime) -> None:
        self.local_last_use[badge] = utc.isoformat(timespec="seconds")
        replace_atomically(self.last_use_path, json.dumps(self.local_last_use).encode())


@dataclass
class _Failures:
    times: deque = field(default_factory=deque)
    locked_until: float = 0.0


class Auth:
    """Sign-in, sessions and lockout. Every outcome is audited; a deactivated user's attempt
    also queues a priority report for Professional Standards Bureau."""

    def __init__(self, roster: Roster, audit, unit_id: str, idle_s: float = 1800.0,
                 mono=time.monotonic, utc=lambda: datetime.now(timezone.utc)) -> None:
        self.roster, self.audit, self.unit_id, self.idle_s = roster, audit, unit_id, idle_s
        self.mono, self.utc = mono, utc
        self.hasher = PasswordHasher()
        self.sessions: dict[str, Session] = {}
        self.ended: dict[str, str] = {}  # token -> why it ended (shown once by the page)
        self.on_session_end = None  # callback(Session, reason) for the page
        self._failures: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    # -- signing in ----------------------------------------------------------------------
    def sign_in(self, badge: str, pin: str) -> Session:
        badge = (badge or "").strip()[:32]
        now = self.mono()
        f = self._failures.setdefault(badge, _Failures())
        if f.locked_until > now:
            minutes = max(1, round((f.locked_until - now) / 60))
            self._refuse(badge, "locked", f"Account {badge} is locked after {MAX_FAILURES} "
                         f"failed attempts. Try again in {minutes} min or call the ALPR "
                         "system administrator.")
        user = self.roster.get(badge) if badge else None
        if not self.roster.version:
            self._refuse(badge, "no_roster", "No user list from HQ yet: sign-in is not "
                         "possible until the vehicle has synced with HQ.")
        pin_ok = user is not None and self._pin_ok(user, pin or "")
        if user is not None and user.status == "deactivated":
            self._report_deactivated(user, pin_ok)
            self._refuse(badge, "deactivated", "This account is deactivated. The attempt has "
                         "been recorded and reported to Professional Standards Bureau.")
        if not pin_ok:
            left = self._fail(badge, f, now)
            self._refuse(badge, "unknown" if user is None else "pin",
                         "Badge number or PIN not recognised." + (
                             f" {left} attempt(s) left before the account locks." if left
                             else f" The account is now locked for {LOCK_S // 60} min."))
        f.times.clear()
        if not user.trained_utc:
            self._refuse(badge, "training", "No ALPR training is recorded for you. Complete "
                         "the POST-certified ALPR course before using the system.")
        last = self.roster.last_use(user)
        if last is not None and self.utc() - last > timedelta(days=UNUSED_DAYS):
            self._refuse(badge, "reorientation", f"Not used since {last.date()} (over a "
                         "year): complete the ALPR reorientation course first.")
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(24), user.badge,
                    user.name, user.role, now, now)
        self.audit.append(user.badge, user.role, "sign_in")
        with self._lock:
            self.sessions[s.token] = s
        self.roster.mark_used(user.badge, self.utc())
        log.info("sign-in: %s (%s)", user.badge, user.role)
        return s

    def _pin_ok(self, user: User, pin: str) -> bool:
        try:
            return self.hasher.verify(user.pin_hash, pin)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _fail(self, badge: str, f: _Failures, now: float) -> int:
        f.times.append(now)
        while f.times and now - f.times[0] > FAILURE_WINDOW_S:
            f.times.popleft()
        if len(f.times) >= MAX_FAILURES:
            f.locked_until = now + LOCK_S
            f.times.clear()
            self.audit.append(badge or "-", "-", "account_locked",
                              detail={"failures": MAX_FAILURES, "lock_s": LOCK_S})
            log.warning("sign-in: account %s locked after %d failed attempts", badge,
                        MAX_FAILURES)
            return 0
        return MAX_FAILURES - len(f.times)

    def _refuse(self, badge: str, code: str, message: str):
        user = self.roster.get(badge)
        self.audit.append(badge or "-", user.role if user else "-", "sign_in_refused",
                          detail={"reason": code})
        log.warning("sign-in refused for %r: %s", badge, code)
        raise Refused(code, message)

    def _report_deactivated(self, user: User, pin_ok: bool) -> None:
        """POL-05: a priority report for Professional Standards Bureau, queued at once."""
        rid = str(uuid.uuid4())
        body = {"id": rid, "type": "deactivated_sign_in", "for": "Professional Standards Bureau",
                "unit_id": self.unit_id, "utc": self.utc().isoformat(timespec="seconds"),
                "badge": user.badge, "name": user.name, "role": user.role,
                "pin_correct": pin_ok}
        self.audit.store.queue("report", body)
        log.warning("sign-in by deactivated account %s: reported to Professional Standards "
                    "Bureau (report %s)", user.badge, rid)

    # -- sessions ------------------------------------------------------------------------
    def session(self, token: str | None) -> Session | None:
        """The live session for a token, touched; None when absent, ended or idle too long."""
        if not token:
            return None
        with self._lock:
            s = self.sessions.get(token)
            if s is None:
                return None
            now = self.mono()
            if now - s.last_mono > self.idle_s:
                self._end(s, "idle")
                return None
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
        if self.on_session_end:
            self.on_session_end(s, reason)

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


def hash_pin(pin: str) -> str:
    """HQ side: the argon2id hash of a PIN, as the roster carries it."""
    return PasswordHasher().hash(pin)
