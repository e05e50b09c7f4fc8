"""The bodies of the messages car and HQ exchange (docs/protocol.md, docs/schemas/v1).

Records the car uplinks (read.v1, hit.v1), what HQ signs (hotlist entries, roster.v1,
command.v1), and the words both sides must spell alike (the six purposes, PIN hashes).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from alprd.protocol.version import PROTOCOL_VERSION
from alprd.types import Hit, HotlistEntry, Read, read_fields

# POL-02: the six purposes for which ALPR data may be searched, viewed or exported
PURPOSES = {
    "criminal": "Criminal investigation or proceeding",
    "non_criminal": "Non-criminal investigation (e.g. missing and found persons)",
    "administrative": "Administrative investigation or proceeding (e.g. pursuit, complaint)",
    "civil": "Civil investigation or proceeding",
    "situational_awareness": "Situational awareness operation",
    "public_safety_threat": "Response to a cognizable threat to public safety",
}


# A read's crop (crop_jpeg_b64) is the plate's box with these margins on each side, as
# fractions of the box's width and height (POL-01: a tight crop, never the scene).
CROP_MARGIN_X, CROP_MARGIN_Y = 0.10, 0.18


def plate_in_crop(width: int, height: int) -> list[int]:
    """The plate's box inside a read's crop of width x height: the crop less its margins.
    HQ's QA set labels it so, and a fine-tune cuts the crop again as the car does, rather
    than adding a second margin to the first."""
    mx = width * CROP_MARGIN_X / (1 + 2 * CROP_MARGIN_X)
    my = height * CROP_MARGIN_Y / (1 + 2 * CROP_MARGIN_Y)
    return [round(mx), round(my), round(width - mx), round(height - my)]


def read_body(r: Read) -> dict[str, Any]:
    """The uplinked form of a read (read.v1)."""
    return {**read_fields(r), "crop_jpeg_b64": base64.b64encode(r.crop_jpeg).decode()}


def hit_body(h: Hit, unit_id: str) -> dict[str, Any]:
    """The uplinked form of a hit (hit.v1)."""
    e = h.entry
    return {
        "id": h.id,
        "read_id": h.read_id,
        "unit_id": unit_id,
        "utc": h.utc,
        "rule": h.rule,
        "differs": list(h.differs),
        "state_rule": h.state_rule,
        "read_state": h.read_state,
        "read_state_confidence": h.read_state_confidence,
        "candidate": h.candidate,
        "candidate_probability": h.candidate_probability,
        "plate": e.plate,
        "state": e.state,
        "list_type": e.list_type,
        "reason": e.reason,
        "priority": e.priority,
        "case_number": e.case_number,
        "model": h.model,
    }


def entry_to_json(e: HotlistEntry) -> dict[str, Any]:
    """A hotlist entry as HQ signs it in a snapshot or delta."""
    return {
        "plate": e.plate,
        "state": e.state,
        "list_type": e.list_type,
        "reason": e.reason,
        "priority": e.priority,
        "case_number": e.case_number,
        "source": e.source,
        "entered_utc": e.entered_utc,
        "expires": e.expires,
    }


def utc_now() -> str:
    """Now, as the bodies stamp it (ISO 8601, seconds, UTC)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def hotlist_snapshot(entries: Iterable[HotlistEntry], version: int) -> dict[str, Any]:
    """hotlist.snapshot (signed on the wire); HQ chooses the version (HqStore.next_version)."""
    return {
        "v": PROTOCOL_VERSION,
        "kind": "hotlist.snapshot",
        "list_version": version,
        "created_utc": utc_now(),
        "entries": [entry_to_json(e) for e in entries],
    }


def roster_body(users: list[dict[str, Any]], version: int) -> dict[str, Any]:
    """roster.v1 (signed on the wire); HQ chooses the version (HqStore.next_version)."""
    return {
        "v": PROTOCOL_VERSION,
        "kind": "roster",
        "roster_version": version,
        "created_utc": utc_now(),
        "users": users,
    }


def command_body(unit: str, command: str) -> dict[str, Any]:
    """command.v1 (signed on the wire)."""
    return {
        "v": PROTOCOL_VERSION,
        "kind": "command",
        "id": str(uuid.uuid4()),
        "unit_id": unit,
        "command": command,
        "issued_utc": utc_now(),
    }


def hash_pin(pin: str) -> str:
    """HQ side: the argon2id hash of a PIN, as the roster carries it."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(pin)


def roster_user(
    badge: str,
    name: str,
    role: str,
    pin: str,
    trained_utc: str | None,
    last_use_utc: str | None = None,
    status: str = "active",
) -> dict[str, Any]:
    """One roster entry; the PIN leaves HQ only as its argon2id hash."""
    return {
        "badge": badge,
        "name": name,
        "role": role,
        "pin_hash": hash_pin(pin),
        "trained_utc": trained_utc,
        "last_use_utc": last_use_utc,
        "status": status,
    }
