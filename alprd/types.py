"""Plain data passed between the stages. Frozen: a stage never edits what it received."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Frame:
    """One camera image. Lives in memory only: full frames are never stored (POL-01)."""

    camera_id: str
    image: np.ndarray  # BGR uint8, full resolution
    mono: float  # time.monotonic() at capture
    seq: int
    detect_image: np.ndarray | None = None  # low-resolution stream, where the camera has one


@dataclass(frozen=True)
class Fix:
    """A GPS position. utc is the receiver's time (data, never used for intervals)."""

    lat: float
    lon: float
    mono: float
    utc: str | None = None  # ISO 8601
    quality: int = 0  # GGA fix quality: 0 none, 1 GPS, 2 DGPS, ...
    hdop: float | None = None
    satellites: int | None = None
    speed_kmh: float | None = None
    course: float | None = None


@dataclass(frozen=True)
class PlateRead:
    """One plate in one frame, as the recognizer returns it."""

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    bbox: tuple[int, int, int, int]  # x1, y1, x2, y2 in full-frame pixels
    detector_score: float
    # the most probable texts with their probabilities (recognize/nbest.py), text first where
    # the readers agree; () where unknown (the text alone is then matched)
    candidates: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Observation:
    """A PlateRead with the frame context the tracker needs."""

    plate: PlateRead
    camera_id: str
    mono: float
    crop: np.ndarray = field(compare=False, repr=False)  # BGR
    sharpness: float = 0.0


@dataclass(frozen=True)
class Read:
    """One vehicle pass: the record that is stored and uplinked (exactly the POL-01 fields)."""

    id: str  # UUID
    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    state: str | None  # None: not read, or not sure enough (recognize.state_min_confidence)
    utc: str  # ISO 8601 with Z
    time_source: str  # "system" or "gps"
    camera_id: str
    unit_id: str
    lat: float | None
    lon: float | None
    fix_quality: int
    crop_jpeg: bytes = field(repr=False)
    bbox: tuple[int, int, int, int]
    frames: int  # how many frames of the pass voted
    state_confidence: float | None = None  # how often a state so read is right; None: no state


# A read's fields, named once (the dataclass above): the record HQ gets (protocol.read_body),
# the store's row (store/reads.py) and the page's event (ui/events.py) derive from them.
READ_FIELDS = tuple(f.name for f in fields(Read) if f.name != "crop_jpeg")


def read_fields(r: Read) -> dict[str, Any]:
    """Every field of a read but its crop, as plain JSON values (tuples as lists)."""
    out = {name: getattr(r, name) for name in READ_FIELDS}
    out["char_confidences"], out["bbox"] = list(r.char_confidences), list(r.bbox)
    return out


def read_from_fields(d: Mapping[str, Any], crop_jpeg: bytes) -> Read:
    """The Read that read_fields() gave d (the store's opened row, a record's body)."""
    given = {name: d[name] for name in READ_FIELDS}
    x1, y1, x2, y2 = (int(v) for v in d["bbox"])
    return Read(
        **{
            **given,
            "char_confidences": tuple(float(c) for c in d["char_confidences"]),
            "bbox": (x1, y1, x2, y2),
        },
        crop_jpeg=crop_jpeg,
    )


# The kinds of hotlist record (NCIC wants, stolen vehicles and plates, AMBER/BOLO, agency lists)
# a plate as a person types it to the car (a search, a misread's true characters)
PLATE_RE = re.compile(r"^[A-Z0-9]{1,8}$")

LIST_TYPES = (
    "stolen_vehicle",
    "stolen_plate",
    "wanted_person",
    "missing_person",
    "amber",
    "bolo",
    "agency",
)


@dataclass(frozen=True)
class HotlistEntry:
    plate: str
    state: str | None  # None: any state
    list_type: str  # see alprd.hotlist.index.LIST_TYPES
    reason: str = ""
    priority: int = 1  # 1 = most urgent
    case_number: str | None = None  # NCIC or case number
    source: str = ""  # NCIC, CLEW, agency ...
    entered_utc: str = ""
    expires: float = 0.0  # UTC epoch seconds; 0 = never


@dataclass(frozen=True)
class Hit:
    id: str  # UUID
    read_id: str
    entry: HotlistEntry
    rule: str  # "exact", "look-alike", "extra-character", "missing-character"
    utc: str
    differs: tuple[int, ...] = ()  # positions in the read that differ from the entry
    state_rule: str = "same"  # "same", "entry-any-state", "read-state-unknown", "state-mismatch"
    read_state: str | None = None  # the read's state and its confidence, as the officer sees
    read_state_confidence: float | None = None  # them beside the entry's
    candidate: str | None = None  # the text that hit: the read's, or (rule "n-best") one the
    candidate_probability: float | None = None  # readers found this probable
    model: str | None = None  # the models that read it (HQ's field accuracy per version, #37)
