"""One hit alert as the officer works it: its read and hit, the steps taken, its state; the
steps and dispositions it offers, and the report a late or wrong alert sends (POL-11/12).
The workflow that opens, steps and closes alerts is alprd.alerts.Alerts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from alprd.types import PLATE_RE, Hit, Read

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
# closed by the system: HQ withdrew the want; a repeat of an alert shown minutes ago (ui.repeat_
# suppress_min: the hit is stored, audited and sent to HQ, and no second alarm sounds)
CLOSING = set(DISPOSITIONS) | {"cancelled_by_hq", "repeat_suppressed"}
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
    repeats: int = 0  # the same want's plate seen again while this alert is open
    seen_again_utc: str | None = None
    # acknowledgements the store could not take (full disk): (session, utc), stored by tick()
    unrecorded: list[tuple[Officer, str]] = field(default_factory=list)

    @property
    def want(self) -> tuple[str, str | None, str]:
        """Which want this alerts on: repeats are suppressed per want."""
        e = self.hit.entry
        return (e.plate, e.state, e.list_type)

    @property
    def hit_id(self) -> str:
        return self.hit.id

    @property
    def read_id(self) -> str:
        return self.read.id

    @property
    def verified(self) -> bool:
        return all(s in self.steps for s in STEPS)


def corrected_plate(text: str | None, disposition: str) -> str | None:
    """The characters an officer typed for a misread: letters and digits, up to 8 (spaces and
    dashes dropped, upper-cased); None when none were typed. AlertError otherwise."""
    if not text or not text.strip():
        return None
    if disposition != "misread":
        raise AlertError("the plate's characters are typed with a misread only")
    plate = re.sub(r"[\s-]", "", text).upper()
    if not PLATE_RE.fullmatch(plate):
        raise AlertError("type the plate's letters and digits (up to 8), or leave it empty")
    return plate


def forget_before(books: Sequence[dict[Any, float]], before: float) -> None:
    """Drop what was noted before `before` (what no repeat can match any more)."""
    for book in books:
        for key in [k for k, t in book.items() if t < before]:
            del book[key]


def report_body(
    a: Alert, unit_id: str, utc: str, kind: str, to: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """A priority report about an alert (unacknowledged, hotlist error) for HQ."""
    r, e = a.read, a.hit.entry
    return {
        "id": str(uuid.uuid4()),
        "type": kind,
        "for": to,
        "unit_id": unit_id,
        "utc": utc,
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
