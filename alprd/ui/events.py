"""The page's read, hit and alert events: the one place typed reads, hits and alerts become
the page's JSON (a read new or restored after a stop looks the same)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from alprd.alert import Alert
from alprd.types import READ_FIELDS, Hit, Read, read_fields

# what the page shows of a read: some of alprd.types.READ_FIELDS (a test holds them to it)
PAGE_FIELDS = (
    "id",
    "text",
    "confidence",
    "state",
    "state_confidence",
    "utc",
    "camera_id",
    "lat",
    "lon",
)


# what a search, a view and an export show of a stored read (not its characters' confidences,
# box or time source)
SUMMARY_FIELDS = tuple(
    f for f in READ_FIELDS if f not in ("char_confidences", "bbox", "time_source")
)


def read_event(read: Read, hits: Sequence[Hit]) -> dict[str, Any]:
    """The event for a Read and its Hits."""
    fields = read_fields(read)
    return {
        "type": "hit" if hits else "read",
        **{k: fields[k] for k in PAGE_FIELDS},
        "crop": "data:image/jpeg;base64," + base64.b64encode(read.crop_jpeg).decode(),
        "hits": [
            {
                "id": h.id,
                "plate": h.entry.plate,
                "state": h.entry.state,
                "list_type": h.entry.list_type,
                "priority": h.entry.priority,
                "reason": h.entry.reason,
                "case_number": h.entry.case_number,
                "rule": h.rule,
                "differs": list(h.differs),
                "state_rule": h.state_rule,
                "candidate": h.candidate,
                "candidate_probability": h.candidate_probability,
            }
            for h in hits
        ],
    }


def alert_event(a: Alert) -> dict[str, Any]:
    """An open (or just closed) alert as the page shows it: its read and hit, and the steps
    taken."""
    return {
        **read_event(a.read, [a.hit]),
        **({"state_pending": True} if a.state_pending else {}),
        **({"not_stored": True} if a.not_stored else {}),
        "type": "alert",
        "hit_id": a.hit_id,
        "acknowledged_utc": a.acknowledged_utc,
        "steps": dict(a.steps),
        "verified": a.verified,
        "escalated_utc": a.escalated_utc,
        "closed": a.closed,
        "repeats": a.repeats,
        "seen_again_utc": a.seen_again_utc,
        "ack_not_recorded": bool(a.unrecorded),
    }
