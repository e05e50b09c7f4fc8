"""Field accuracy at HQ, from the officers' own verifications (#37 item 1; the policy's
Quality Assurance paragraph): each hit an officer closed as verified (the characters, the state
and the want confirmed) or as a misread, per car, per camera, per model version and per week;
where the officer typed the plate's true characters, which characters the readers got wrong.

A car or a camera whose misread rate stands well above the rest of the fleet's is flagged
(a dirty or misaimed camera is the common cause), once it has enough verdicts to say so.
`alprd hq quality [--json]` and the fleet's flags (`alprd hq status`, the fleet page) show it.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alprd.hq.store import RecordStore

CONFIRMED = ("verified_stopped", "verified_not_stopped")
VERDICTS = (*CONFIRMED, "misread")
MIN_VERDICTS = 5  # fewer verdicts say nothing about a camera
FLAG_RATIO, FLAG_MARGIN = 2.0, 0.15  # flagged: twice the rest's misread rate, and 15 points


def week(utc: str) -> str:
    """ISO week of a UTC time, e.g. '2026-W49'."""
    y, w, _ = datetime.fromisoformat(utc.replace("Z", "+00:00")).isocalendar()
    return f"{y}-W{w:02d}"


def wrong_characters(read: str, true: str) -> list[str]:
    """What the readers got wrong, as 'read>true' pairs (same length), or one 'length' pair."""
    if len(read) != len(true):
        return [f"{read}>{true} (length)"]
    return [f"{a}>{b}" for a, b in zip(read, true) if a != b]


def closed_hits(
    store: RecordStore, include_deleted: bool = True
) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(closing disposition, hit, read) of each hit an officer closed as verified or misread
    (the last verdict of a hit); without include_deleted, only hits whose read is still there
    and not logically deleted (POL-09: what retention removed is gone from what follows)."""
    closing: dict[tuple[str, str], dict[str, Any]] = {}
    for d in store.bodies("disposition"):
        if d.get("action") in VERDICTS:
            closing[(d["unit_id"], d["hit_id"])] = d
    for (unit, hit_id), d in closing.items():
        read = store.body_of(unit, "read", d["read_id"], include_deleted)
        if read is None and not include_deleted:
            continue
        yield d, store.body_of(unit, "hit", hit_id, include_deleted) or {}, read or {}


def verdicts(store: RecordStore) -> list[dict[str, Any]]:
    """One row per hit an officer closed as verified or misread: its car, camera, model,
    week, outcome and (a corrected misread) the characters read wrong."""
    out = []
    for d, hit, read in closed_hits(store):
        unit = d["unit_id"]
        text = str(read.get("text") or hit.get("candidate") or "")
        corrected = d.get("corrected_text")
        out.append(
            {
                "unit_id": unit,
                "camera": f"{unit}/{read.get('camera_id') or '?'}",
                "model": hit.get("model") or "unknown",
                "week": week(d["utc"]),
                "confirmed": d["action"] in CONFIRMED,
                "wrong": wrong_characters(text, corrected) if corrected and text else [],
            }
        )
    return out


def _rates(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r[key]].append(r)
    return {
        k: {
            "confirmed": sum(r["confirmed"] for r in g),
            "misread": sum(not r["confirmed"] for r in g),
            "misread_rate": round(sum(not r["confirmed"] for r in g) / len(g), 3),
        }
        for k, g in sorted(groups.items())
    }


def quality(store: RecordStore) -> dict[str, Any]:
    """The fleet's field accuracy: totals, per car, camera, model and week, the characters
    read wrong (most common first), and the cars and cameras flagged."""
    rows = verdicts(store)
    misread = sum(not r["confirmed"] for r in rows)
    fleet_rate = misread / len(rows) if rows else 0.0
    out: dict[str, Any] = {
        "verdicts": len(rows),
        "confirmed": len(rows) - misread,
        "misread": misread,
        "misread_rate": round(fleet_rate, 3),
        **{f"by_{k}": _rates(rows, k) for k in ("unit_id", "camera", "model", "week")},
        "characters_wrong": Counter(w for r in rows for w in r["wrong"]).most_common(20),
    }
    flagged = []
    for key in ("unit_id", "camera"):
        for name, g in out[f"by_{key}"].items():
            n = g["confirmed"] + g["misread"]
            rest_n, rest_bad = len(rows) - n, misread - g["misread"]
            rest = rest_bad / rest_n if rest_n else 0.0  # the rest of the fleet, not itself
            rate = g["misread_rate"]
            if n >= MIN_VERDICTS and rest_n and rate >= max(FLAG_RATIO * rest, rest + FLAG_MARGIN):
                what = "car" if key == "unit_id" else "camera"
                flagged.append(
                    {
                        "unit_id": name.split("/")[0],
                        "flag": f"{what} {name}: {round(100 * rate)} % misread",
                        "text": f"{what} {name}: {round(100 * rate)} % misread of {n} verdicts "
                        f"(the rest of the fleet {round(100 * rest)} %): check the camera's "
                        "window and aim",
                    }
                )
    out["flagged"] = flagged
    return out


def table(q: dict[str, Any]) -> str:
    lines = [
        f"field accuracy: {q['verdicts']} verdicts, {q['confirmed']} confirmed, "
        f"{q['misread']} misread ({round(100 * q['misread_rate'])} % misread)"
    ]
    for key, title in (("camera", "per camera"), ("model", "per model"), ("week", "per week")):
        lines.append(f"{title}:")
        for name, g in q[f"by_{key}"].items():
            lines.append(
                f"  {name:<24} {g['confirmed']:>5} confirmed {g['misread']:>5} misread "
                f"{round(100 * g['misread_rate']):>4} %"
            )
    if q["characters_wrong"]:
        lines.append(
            "characters read wrong: " + ", ".join(f"{w} x{n}" for w, n in q["characters_wrong"])
        )
    lines += [f"FLAG {f['text']}" for f in q["flagged"]] or ["no car or camera flagged"]
    return "\n".join(lines)


def quality_main(a: argparse.Namespace) -> int:

    from alprd.hq.store import open_for

    store = open_for("quality", a.db, a.index_key)
    if store is None:
        return 1
    try:
        q = quality(store)
    finally:
        store.close()
    print(json.dumps(q, indent=1) if a.json else table(q))
    return 0
