"""Signed hotlist updates from HQ: full snapshots and ordered deltas (docs/protocol.md).

An update comes in HQ's signed envelope (alprd.protocol.envelope); the vehicle holds HQ's
public key (pinned) and refuses anything else. A forged, truncated, out-of-order or
replayed update is refused with a one-line reason, and the last good list stays in force. A
good update is applied by building a new index and swapping it in (matching never waits),
then saved, so a restart starts from it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from alprd.files import Sealing, read_sealed, replace_atomically, write_sealed
from alprd.hotlist import Hotlist
from alprd.hotlist.index import Index
from alprd.protocol.envelope import UpdateRefused, check, verify
from alprd.types import LIST_TYPES, HotlistEntry

if TYPE_CHECKING:
    from alprd.config import HotlistConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applied:
    kind: str  # "snapshot" or "delta"
    version: int
    added: int
    removed: list[tuple[str, str | None]]
    cancelled: bool


def _entry(d: Any) -> HotlistEntry:
    if not isinstance(d, dict):
        raise UpdateRefused("an entry is not an object")
    plate = d.get("plate")
    if not (
        isinstance(plate, str)
        and 2 <= len(plate) <= 8
        and plate.isalnum()
        and plate == plate.upper()
    ):
        raise UpdateRefused(f"bad plate {plate!r}")
    if d.get("list_type") not in LIST_TYPES:
        raise UpdateRefused(f"bad list_type {d.get('list_type')!r} for {plate}")
    try:
        return HotlistEntry(
            plate=plate,
            state=d.get("state") or None,
            list_type=d["list_type"],
            reason=str(d.get("reason") or ""),
            priority=int(d.get("priority") or 1),
            case_number=d.get("case_number") or None,
            source=str(d.get("source") or ""),
            entered_utc=str(d.get("entered_utc") or ""),
            expires=float(d.get("expires") or 0.0),
        )
    except (TypeError, ValueError) as exc:
        raise UpdateRefused(f"bad field in entry {plate}: {exc}") from exc


class HotlistSync:
    """Applies verified updates to a Hotlist, keeps its version and age, persists it."""

    @classmethod
    def from_config(
        cls,
        cfg: HotlistConfig,
        hotlist: Hotlist,
        public_key: Ed25519PublicKey,
        state_dir: Path,
        sealer: Sealing | None = None,
    ) -> HotlistSync:
        return cls(hotlist, public_key, state_dir, cfg.max_age_s, sealer=sealer)

    def __init__(
        self,
        hotlist: Hotlist,
        public_key: Ed25519PublicKey,
        state_dir: Path,
        max_age_s: float = 86400.0,
        utc: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        sealer: Sealing | None = None,
    ) -> None:
        self.utc = utc  # when a list arrived is data: it must survive a restart
        self.sealer = sealer  # the data key: the saved list (reasons, case numbers) is sealed
        self.hotlist = hotlist
        self.public_key = public_key
        self.path = Path(state_dir) / "hotlist.npz"
        self.received_path = Path(state_dir) / "hotlist-received.txt"  # ISO UTC
        self.max_age_s = max_age_s
        self.version = 0
        self.created_utc = ""
        self.received_mono: float | None = None
        self.refused = 0
        self._lock = threading.Lock()  # one update at a time; matching never takes it

    def load_saved(self) -> bool:
        if not self.path.exists():
            return False
        try:
            data, sealed = read_sealed(self.path, self.sealer)
            index = Index.from_bytes(data)
        except (OSError, ValueError, KeyError) as exc:
            log.error("hotlist: saved list %s unusable (%s); waiting for HQ", self.path, exc)
            return False
        self.hotlist.matcher.swap(index)
        if not sealed and self.sealer is not None:  # saved in clear by an older alprd
            self._write(data)
        self.version = index.version
        self.received_mono = self._saved_received_mono()
        log.info(
            "hotlist: version %d, %d entries from %s%s",
            self.version,
            len(index),
            self.path,
            " (stale)" if self.is_stale() else "",
        )
        return True

    def _saved_received_mono(self) -> float | None:
        """When the saved list arrived, on this boot's monotonic clock; None (stale) when that
        is unknown or lies in the future (a clock set back): its age survives a restart."""
        try:
            received = datetime.fromisoformat(self.received_path.read_text().strip())
            age = (self.utc() - received).total_seconds()
        except (OSError, ValueError, TypeError):
            return None
        return time.monotonic() - age if age >= 0 else None

    def is_stale(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return self.received_mono is None or now - self.received_mono > self.max_age_s

    def apply(self, message: bytes) -> Applied:
        """Verify and apply one update; UpdateRefused leaves the current list in force."""
        try:
            body = verify(message, self.public_key)
            kind = body.get("kind")
            if kind not in ("hotlist.snapshot", "hotlist.delta"):
                raise UpdateRefused(f"unknown update kind {kind!r}")
            check(body, kind.replace(".", "-"))
            with self._lock:
                result = self._apply(body)
        except UpdateRefused as exc:
            self.refused += 1
            log.warning("hotlist: update refused: %s; version %d stays in force", exc, self.version)
            raise
        self.received_mono = time.monotonic()
        self._save()
        return result

    def _apply(self, body: dict[str, Any]) -> Applied:
        kind = body.get("kind")
        version = body.get("list_version")
        if not isinstance(version, int) or version <= 0:
            raise UpdateRefused("no list_version")
        if kind == "hotlist.snapshot":
            # the version held is accepted again: HQ re-publishes its list as a snapshot after
            # deltas (for cars that connect later), at the version the deltas reached
            if version < self.version:
                raise UpdateRefused(f"snapshot {version} is older than {self.version} (replayed)")
            entries = body.get("entries")
            if not isinstance(entries, list):
                raise UpdateRefused("snapshot has no entries list")
            parsed = [_entry(d) for d in entries]
            self.hotlist.matcher.swap(Index.build(parsed, self.hotlist.confusions, version))
            removed: list[Any] = []
            added = len(parsed)
        elif kind == "hotlist.delta":
            base = body.get("from_version")
            if version <= self.version:
                raise UpdateRefused(
                    f"delta to {version} is not newer than {self.version} (replayed)"
                )
            if base != self.version:
                raise UpdateRefused(
                    f"delta from {base} does not follow version "
                    f"{self.version} (out of order); waiting for a snapshot"
                )
            add = [_entry(d) for d in body.get("add") or []]
            removed = []
            for r in body.get("remove") or []:
                if not (isinstance(r, list) and len(r) == 2 and isinstance(r[0], str)):
                    raise UpdateRefused("remove items must be [plate, state or null]")
                removed.append((r[0], r[1]))
            index = self.hotlist.matcher.index
            self.hotlist.matcher.swap(index.with_changes(add, removed, version))
            added = len(add)
        else:
            raise UpdateRefused(f"unknown update kind {kind!r}")
        self.version = version
        self.created_utc = str(body.get("created_utc") or "")
        return Applied(kind.split(".")[1], version, added, removed, bool(body.get("cancellation")))

    def _save(self) -> None:
        if self._write(self.hotlist.matcher.index.to_bytes()):
            try:
                replace_atomically(self.received_path, self.utc().isoformat().encode())
            except OSError as exc:
                log.error("hotlist: cannot save %s (%s)", self.received_path, exc)

    def _write(self, data: bytes) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_sealed(self.path, data, self.sealer)
            return True
        except OSError as exc:
            log.error("hotlist: cannot save %s (%s); the list in memory is current", self.path, exc)
            return False
