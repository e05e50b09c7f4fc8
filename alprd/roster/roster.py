"""The roster HQ syncs (roster.v1, signed with HQ's key): verified, kept on disk, verified again
at every start; local last-use times beside it."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from alprd.files import Sealing, read_sealed, write_sealed
from alprd.protocol import UpdateRefused, check, strictjson, verify
from alprd.roster.roles import ROLES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class User:
    badge: str
    name: str
    role: str
    pin_hash: str
    trained_utc: str | None
    last_use_utc: str | None
    status: str  # "active" or "deactivated"


def _user(d: Any) -> User:
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
    return User(
        badge,
        str(d.get("name") or badge),
        d["role"],
        pin_hash,
        d.get("trained_utc") or None,
        d.get("last_use_utc") or None,
        d["status"],
    )


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

    def __init__(
        self, public_key: Ed25519PublicKey | None, state_dir: Path, sealer: Sealing | None = None
    ) -> None:
        self.public_key = public_key
        self.sealer = sealer  # the data key: roster.bin (PIN hashes) and last use are sealed
        self.path = Path(state_dir) / "roster.bin"
        self.last_use_path = Path(state_dir) / "roster-last-use.json"
        self.version = 0
        self.users: dict[str, User] = {}
        self.local_last_use: dict[str, str] = {}
        self._lock = threading.Lock()

    def load_saved(self) -> bool:
        try:
            data, sealed = read_sealed(self.last_use_path, self.sealer)
            self.local_last_use = strictjson.loads(data, str(self.last_use_path))
            if not sealed:
                write_sealed(self.last_use_path, data, self.sealer)
        except FileNotFoundError:
            self.local_last_use = {}
        except (OSError, ValueError) as exc:
            log.error("roster: last-use times %s unreadable (%s)", self.last_use_path, exc)
            self.local_last_use = {}
        if not self.path.exists():
            return False
        try:
            message, sealed = read_sealed(self.path, self.sealer)
            self.apply(message, save=not sealed)  # one saved in clear is sealed now
        except (UpdateRefused, OSError, ValueError) as exc:
            log.error("roster: saved roster %s refused (%s); waiting for HQ", self.path, exc)
            return False
        return True

    def apply(self, message: bytes, save: bool = True) -> tuple[set[str], set[str]]:
        """Verify and apply a roster; (removed badges, changed badges). UpdateRefused if
        forged, malformed or older than the one in force."""
        if self.public_key is None:
            raise UpdateRefused("no HQ key is pinned (hotlist.public_key): roster refused")
        body = verify(message, self.public_key)
        if body.get("kind") != "roster":
            raise UpdateRefused(f"not a roster: kind {body.get('kind')!r}")
        check(body, "roster")
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
            write_sealed(self.path, message, self.sealer)
        log.info("roster: version %d, %d user(s)", version, len(users))
        return removed, changed

    def get(self, badge: str) -> User | None:
        with self._lock:
            return self.users.get(badge)

    def last_use(self, u: User) -> datetime | None:
        times = [
            t
            for t in (_parse_day(u.last_use_utc), _parse_day(self.local_last_use.get(u.badge)))
            if t
        ]
        return max(times) if times else None

    def mark_used(self, badge: str, utc: datetime) -> None:
        self.local_last_use[badge] = utc.isoformat(timespec="seconds")
        write_sealed(self.last_use_path, json.dumps(self.local_last_use).encode(), self.sealer)
