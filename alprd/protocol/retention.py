"""Retention (POL-09): the policy's schedule, one definition for the vehicle and HQ.

From a record's capture time:
- two years: logical deletion (flagged, hidden from data users, visible to administrators);
- five years, 24 hours and one minute: permanent deletion, crops included;
- a legal hold (by DR or case number) keeps a record from both until the hold is released;
  each hold is due for review every two years.
Times are UTC datetimes: retention is about dates (data), not intervals. The vehicle's own
purge (acknowledged records past the local cap) is alprd/retention.py; HQ's is alprd/hq.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

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


def parse_utc(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
