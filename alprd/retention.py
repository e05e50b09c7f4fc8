"""Retention (POL-09), one library for the vehicle and the reference HQ.

Policy schedule, from a record's capture time:
- two years: logical deletion (flagged, hidden from data users, visible to administrators);
- five years, 24 hours and one minute: permanent deletion, crops included;
- a legal hold (by DR or case number) keeps a record from both until the hold is released;
  each hold is due for review every two years.
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

from alprd.clock import iso

log = logging.getLogger(__name__)

LOGICAL_YEARS = 2
PERMANENT_YEARS = 5
PERMANENT_EXTRA = timedelta(hours=24, minutes=1)
HOLD_REVIEW_YEARS = 2


def add_years(t: datetime, years: int) -> datetime:
    """The same calendar date and time `years` later (29 February becomes 28 February)."""
    try:
        return t.replace(year=t.year + years)
    except ValueError:
        return t.replace(year=t.year + years, day=28)


def logical_due(captured: datetime) -> datetime:
    return add_years(captured, LOGICAL_YEARS)


def permanent_due(captured: datetime) -> datetime:
    return add_years(captured, PERMANENT_YEARS) + PERMANENT_EXTRA


def decide(captured: datetime, now: datetime, held: bool = False) -> str:
    """'keep', 'logical' (flag and hide) or 'permanent' (delete, crops included)."""
    if held:
        return "keep"
    if now >= permanent_due(captured):
        return "permanent"
    if now >= logical_due(captured):
        return "logical"
    return "keep"


def hold_review_due(last_review: datetime) -> datetime:
    return add_years(last_review, HOLD_REVIEW_YEARS)


MAX_LOCAL_CAP_DAYS = 730  # the vehicle never keeps data as long as the policy's two years


def vehicle_purge_before(now: datetime, local_cap_days: float) -> datetime:
    """Acknowledged records captured before this time leave the vehicle."""
    return now - timedelta(days=min(local_cap_days, MAX_LOCAL_CAP_DAYS))


def parse_utc(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


class VehiclePurge:
    """POL-09 on the vehicle: every `every_s` (monotonic), purge the reads and audit records
    HQ has acknowledged that are older than the local cap."""

    def __init__(self, store, audit, local_cap_days: float, every_s: float = 600.0,
                 utc=lambda: datetime.now(timezone.utc)) -> None:
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
            log.info("retention: no trusted time yet (GPS has not said it, or the system "
                     "clock is unset); nothing purged until the next turn")
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
