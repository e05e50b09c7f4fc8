"""The unsigned MQTT messages: records up (car to HQ) and acknowledgements down.

decode() and the parse_* functions raise ValueError naming the reason, so a malformed
message costs one log line on either side and changes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from alprd.protocol import strictjson
from alprd.protocol.version import PROTOCOL_VERSION

MAX_UP_BYTES = 16 * 1024 * 1024
MAX_ACK_BYTES = 256 * 1024
KINDS = {"read", "hit", "disposition", "report", "breach", "audit", "ticket", "selftest", "image"}


def topics(prefix: str, unit_id: str) -> tuple[str, str]:
    """A car's (up, ack) topics."""
    base = f"{prefix.rstrip('/')}/{unit_id}"
    return f"{base}/up", f"{base}/ack"


def decode(payload: bytes, max_bytes: int, what: str) -> dict[str, Any]:
    """A protocol message as a dict; ValueError naming the reason when it is not one."""
    msg = strictjson.loads(payload, what, max_bytes)
    if not isinstance(msg, dict) or msg.get("v") != PROTOCOL_VERSION:
        raise ValueError(f"{what} has no 'v': {PROTOCOL_VERSION}")
    return msg


def up_message(
    unit_id: str, records: list[dict[str, Any]], status: dict[str, Any] | None = None
) -> str:
    """up.v1: a batch of records, each {"id", "kind", "body"}; status: the car's own figures
    for HQ's fleet view (hotlist_version, hotlist_age_s, outbox_depth)."""
    msg = {
        "v": PROTOCOL_VERSION,
        "unit_id": unit_id,
        "sent_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "records": records,
    }
    if status:
        msg["status"] = status
    return json.dumps(msg, allow_nan=False)


def parse_up(payload: bytes) -> tuple[str, list[dict[str, Any]]]:
    """(unit_id, records) from an uplink message; ValueError with the reason if malformed."""
    unit, records, _ = parse_up_message(payload)
    return unit, records


def parse_up_message(payload: bytes) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None]:
    """(unit_id, records, status or None) from an uplink message; ValueError with the reason
    if malformed (a status that is not an object is dropped, never fatal)."""
    msg = decode(payload, MAX_UP_BYTES, "message")
    unit = msg.get("unit_id")
    records = msg.get("records")
    if not isinstance(unit, str) or not unit or not isinstance(records, list):
        raise ValueError("needs unit_id (string) and records (list)")
    for r in records:
        if not (
            isinstance(r, dict)
            and isinstance(r.get("id"), str)
            and 0 < len(r["id"]) <= 64
            and r.get("kind") in KINDS
            and isinstance(r.get("body"), dict)
        ):
            raise ValueError("each record needs id (string), kind (known) and body (object)")
    status = msg.get("status")
    return unit, records, status if isinstance(status, dict) else None


def ack_message(ids: list[str]) -> str:
    """ack.v1: the record ids HQ has stored."""
    return json.dumps({"v": PROTOCOL_VERSION, "ids": ids}, allow_nan=False)


def parse_ack(payload: bytes) -> list[str]:
    """Record ids from an ack message; ValueError with the reason when malformed."""
    msg = decode(payload, MAX_ACK_BYTES, "ack")
    ids = msg.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) and len(i) <= 64 for i in ids):
        raise ValueError("ack 'ids' must be a list of record ids")
    return ids
