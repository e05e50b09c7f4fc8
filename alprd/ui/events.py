"""The page's read and hit events: one shape, whether the read is new or comes back from the
store (an alert restored after a stop)."""
from __future__ import annotations

import base64

READ_FIELDS = ("id", "text", "confidence", "state", "state_confidence", "utc", "camera_id",
               "lat", "lon")


def event(read: dict, crop_jpeg: bytes, hits: list[dict]) -> dict:
    """An event from a read's fields (READ_FIELDS), its crop and its hits as dicts."""
    return {"type": "hit" if hits else "read", **{k: read[k] for k in READ_FIELDS},
            "crop": "data:image/jpeg;base64," + base64.b64encode(crop_jpeg).decode(),
            "hits": hits}


def read_event(read, hits) -> dict:
    """The event for a new Read and its Hits."""
    return event({k: getattr(read, k) for k in READ_FIELDS}, read.crop_jpeg,
                 [{"id": h.id, "plate": h.entry.plate, "state": h.entry.state,
                   "list_type": h.entry.list_type, "reason": h.entry.reason,
                   "case_number": h.entry.case_number, "rule": h.rule,
                   "differs": list(h.differs), "state_rule": h.state_rule,
                   "candidate": h.candidate, "candidate_probability": h.candidate_probability}
                  for h in hits])
