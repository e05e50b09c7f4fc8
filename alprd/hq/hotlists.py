"""HQ's hotlist deltas: what changed between two imports (docs/protocol.md, hotlist.delta).

Entries are keyed by (plate, state). An entry whose fields changed is sent again in `add` (it
replaces the one the cars hold); an entry gone from the new import is in `remove`, and the
delta is then a cancellation: the want is no longer in force, so a car withdraws its open
alert for it (POL-12). Versions come from HqStore.next_version and never go back.
"""
from __future__ import annotations

from typing import Any
from alprd.protocol import PROTOCOL_VERSION
from alprd.protocol.bodies import _now


def _key(e: dict[str, Any]) -> tuple[str, str | None]:
    return e["plate"], e.get("state") or None


def hotlist_delta(old: list[dict[str, Any]], new: list[dict[str, Any]], from_version: int,
                  version: int) -> dict[str, Any]:
    """hotlist.delta from the entries published at from_version to `new` (entry_to_json)."""
    before = {_key(e): e for e in old}
    after = {_key(e): e for e in new}
    add = [e for k, e in after.items() if before.get(k) != e]
    remove = [list(k) for k in before if k not in after]
    # a removal with no state takes every state of that plate off the car: what the new list
    # still holds for that plate goes again in `add`, after it
    gone_all = {p for p, st in before if st is None and (p, None) not in after}
    add += [e for k, e in after.items() if k[0] in gone_all and e not in add]
    return {"v": PROTOCOL_VERSION, "kind": "hotlist.delta", "from_version": from_version,
            "list_version": version, "created_utc": _now(), "add": add, "remove": remove,
            "cancellation": bool(remove)}
