"""The one JSON decoder for everything that comes from outside the process: MQTT messages
(both ways), the in-car page's request bodies, the control socket and the state files.

Python's json module accepts what no peer of ours ever sends and some of it hurts:
- deep nesting: 100,000 `[` in 200 KB raise RecursionError, which no `except ValueError`
  catches; on paho's network thread that ended HQ's ingest for the whole fleet (#32 item 1);
- `NaN`, `Infinity`: a hotlist entry with `expires: NaN` passed every schema range check,
  since every comparison with NaN is false, and never expired (#32 item 7);
- integers of any size: SQLite and the schemas' ranges stop at 64 bits.
So loads() refuses all three with a JsonRefused (a ValueError) that says which, and callers
keep their one `except ValueError`.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

MAX_DEPTH = 32  # our deepest message (an audit record's detail in an up batch) nests 6
INT_LIMIT = 2**63  # SQLite's INTEGER; no field of ours is near it


class JsonRefused(ValueError):
    """Text that is not JSON we accept; the message says why."""


def _constant(name: str) -> NoReturn:
    raise JsonRefused(f"{name} is not a number JSON allows")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 19:  # before int(): a 4,000-digit string costs time to convert
        raise JsonRefused(f"integer of {len(text)} digits is out of range")
    v = int(text)
    if not -INT_LIMIT <= v < INT_LIMIT:
        raise JsonRefused(f"integer {text} is out of range")
    return v


def _float(text: str) -> float:
    v = float(text)
    if v in (float("inf"), float("-inf")):  # 1e999 parses to infinity
        raise JsonRefused(f"number {text[:30]} is out of range")
    return v


def _depth_ok(value: Any, max_depth: int) -> bool:
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = v.values()
        elif not isinstance(v, list):
            continue
        if d > max_depth:
            return False
        stack.extend((x, d + 1) for x in v if isinstance(x, (dict, list)))
    return True


def loads(
    data: bytes | str,
    what: str = "message",
    max_bytes: int | None = None,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """The JSON value in data, or JsonRefused naming `what` and the reason: too large, not
    JSON, not UTF-8, nested deeper than max_depth, NaN or infinity, an integer beyond 64 bits."""
    if max_bytes is not None and len(data) > max_bytes:
        raise JsonRefused(f"{what} of {len(data)} bytes exceeds {max_bytes}")
    try:
        value = json.loads(data, parse_constant=_constant, parse_int=_int, parse_float=_float)
    except JsonRefused as exc:
        raise JsonRefused(f"{what}: {exc}") from None
    except RecursionError:
        raise JsonRefused(f"{what} is nested deeper than {max_depth}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise JsonRefused(f"{what} is not JSON: {exc}") from None
    if not _depth_ok(value, max_depth):
        raise JsonRefused(f"{what} is nested deeper than {max_depth}")
    return value
