"""Validation of message bodies against the published JSON Schemas (draft 2020-12).

The schemas ship with the package (alprd/protocol/schemas/v1; docs/schemas links to them), so
car and HQ check against the same files the documentation shows.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "v1"


@lru_cache(maxsize=1)
def names() -> tuple[str, ...]:
    """The message kinds that have a schema (read, hit, roster, hotlist-snapshot, ...)."""
    return tuple(
        sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json"))
    )


@lru_cache(maxsize=None)
def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    return loaded


@lru_cache(maxsize=None)
def _validator(name: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema(name))


# keywords draft 2020-12 has and draft 7 lacks: a schema using one is never compiled
_NEWER = (
    '"prefixItems"',
    '"$defs"',
    '"dependentRequired"',
    '"dependentSchemas"',
    '"unevaluatedProperties"',
    '"unevaluatedItems"',
    '"$dynamicRef"',
    '"$anchor"',
)


@lru_cache(maxsize=None)
def _fast(name: str) -> Callable[[Any], Any] | None:
    """The schema compiled to Python by fastjsonschema (a read in ~15 us instead of ~190 us
    with jsonschema: HQ checks thousands a second), or None when the schema uses a keyword
    of draft 2020-12 that draft 7 lacks (the two drafts agree on every other keyword used)."""
    text = (SCHEMA_DIR / f"{name}.schema.json").read_text()
    if any(k in text for k in _NEWER):
        return None
    try:
        import fastjsonschema
    except ImportError:
        return None
    draft7 = {
        **_annotations_only(schema(name)),
        "$schema": "http://json-schema.org/draft-07/schema#",
    }
    return fastjsonschema.compile(draft7)


def _annotations_only(node: Any) -> Any:
    """The schema without contentEncoding / contentMediaType, which draft 2020-12 reads as
    annotations and fastjsonschema would enforce."""
    if isinstance(node, dict):
        return {
            k: _annotations_only(v)
            for k, v in node.items()
            if k not in ("contentEncoding", "contentMediaType")
        }
    if isinstance(node, list):
        return [_annotations_only(v) for v in node]
    return node


def is_valid(name: str, body: Any) -> bool:
    fast = _fast(name)
    if fast is None:
        return bool(_validator(name).is_valid(body))
    try:
        fast(body)
        return True
    except Exception:  # noqa: BLE001  JsonSchemaValueException, or a body it cannot walk
        return False


def validate(name: str, body: Any) -> None:
    """ValueError naming the first field that breaks schema `name` (jsonschema's words)."""
    if is_valid(name, body):
        return
    error = next(iter(_validator(name).iter_errors(body)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ValueError(f"{name}: {where}: {error.message[:200]}")


UTC_FIELDS = ("utc", "read_utc", "created_utc", "trained_utc", "last_use_utc")


def check_record(kind: str, body: Any) -> None:
    """ValueError with the reason unless body is a valid record of this kind: its schema,
    and every time field a real ISO 8601 time (a schema cannot say that)."""
    if kind not in names():
        raise ValueError(f"{kind}: no schema for this kind of record")
    validate(kind, body)
    from datetime import datetime

    for field in UTC_FIELDS:
        value = body.get(field)
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"{kind}: {field}: {value[:40]!r} is not an ISO 8601 time"
                ) from None
