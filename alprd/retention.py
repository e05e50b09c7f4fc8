"""Retention (POL-09) on the vehicle. The policy's schedule (two years logical, five years
and a day permanent, legal holds), shared with HQ, is alprd/protocol/retention.py.

On the vehicle, acknowledged records are kept for in-car searches up to the local cap
(store.local_cap_days, at most 730 days: never as long as the policy's two years) and then
purged; unacknowledged records stay until HQ has them, since losing them is worse.
Times are UTC datetimes: retention is about dates (data), not intervals.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable

from alprd.clock import iso

if TYPE_CHECKING:
    from alprd.audit import AuditLog
    from alprd.config import StoreConfig
    from alprd.store import Store

log = logging.getLogger(__name__)

MAX_LOCAL_CAP_DAYS = 730  # the vehicle never keeps data as long as the policy's two years


def vehicle_purge_before(now: datetime, local_cap_days: float) -> datetime:
    """Acknowledged records captured before this time leave the vehicle."""
    return now - timedelta(days=min(local_cap_days, MAX_LOCAL_CAP_DAYS))


class VehiclePurge:
    """POL-09 on the vehicle: every `every_s` (monotonic), purge the reads and audit records
    HQ has acknowledged that are older than the local cap."""

    @classmethod
    def from_config(
        cls,
        store_cfg: StoreConfig,
        store: Store,
        audit: AuditLog,
        utc: Callable[[], datetime | None],
    ) -> VehiclePurge:
        return cls(store, audit, store_cfg.local_cap_days, utc=utc)

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        local_cap_days: float,
        every_s: float = 600.0,
        utc: Callable[[], datetime | None] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.store, self.audit, self.local_cap_days = store, audit, local_cap_days
        self.every_s, self.utc = every_s, utc
        self._last_mono: float | None = None

    def tick(self, now_mono: float | None = None) -> int:
        now_mono = time.monotonic() if now_mono is None else now_mono
        if self._last_mono is not None and now_mono - self._last_mono < self.every_s:
            return 0
        self._last_mono = now_mono
        now = self.utc()
        if now is None:  # no time to trust (yet): purging by a wrong one would lose evidence
            log.info(
                "retention: no trusted time yet (GPS has not said it, or the system "
                "clock is unset); nothing purged until the next turn"
            )
            return 0
        before = iso(vehicle_purge_before(now, self.local_cap_days))
        try:
            n = self.store.purge_acknowledged(before)
            self.audit.purge_acknowledged(before)
        except sqlite3.Error as exc:
            log.error("retention: purge failed: %s", exc)
            return 0
        if n:
            log.info("retention: purged %d acknowledged read(s) captured before %s", n, before)
        return n
