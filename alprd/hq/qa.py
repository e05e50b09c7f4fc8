"""The QA crop set at HQ (#37 item 3): plates whose text an officer established, as labels for
measuring and retraining the readers. Only hits closed as verified (the officer confirmed the
characters: the label is the hotlist record's plate, which the characters matched) or as a
misread with the plate's characters typed (the label is what was typed); each with its crop,
state, car, camera and model version.

The set is not a copy: `alprd hq qa-export` builds it from the stored records at the time, so
the reads it comes from decide what is in it (POL-09: a read logically deleted or purged
drops out; one under a legal hold stays). Exporting is for system administrators (POL-06),
with one of the six purposes, and each export, allowed or refused, is in HQ's access log
(POL-17). An exported folder holds ALPR data: keep it under the same retention, and purge it
by its manifest's read ids and capture times.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from alprd.hq.access import AccessRefused
from alprd.hq.quality import CONFIRMED, closed_hits
from alprd.hq.search import operator, read_pin
from alprd.protocol import PURPOSES
from alprd.protocol.bodies import plate_in_crop

if TYPE_CHECKING:
    from alprd.hq.store import RecordStore


def qa_items(store: RecordStore) -> list[dict[str, Any]]:
    """The labelled crops, from the records stored now (logically deleted reads left out)."""
    out = []
    for d, hit, read in closed_hits(store, include_deleted=False):
        if d["action"] in CONFIRMED:
            text, how = hit.get("plate"), "confirmed"
        elif d.get("corrected_text"):
            text, how = d["corrected_text"], "corrected"
        else:
            continue  # a misread with nothing typed labels nothing
        if not text or not read.get("crop_jpeg_b64"):
            continue
        out.append(
            {
                "read_id": read["id"],
                "unit_id": d["unit_id"],
                "camera_id": read.get("camera_id"),
                "model": hit.get("model"),
                "read_utc": read.get("utc"),
                "read_text": read.get("text"),
                "text": text,
                "state": hit.get("state") or read.get("state"),
                "label": how,
                "crop": base64.b64decode(read["crop_jpeg_b64"]),
            }
        )
    return out


def export(
    store: RecordStore,
    badge: str,
    pin: str,
    purpose: str,
    out: Path,
    now: datetime | None = None,
) -> int:
    """Write the set under out (manifest.jsonl and images/, the format of ../shared/data that
    train/agency_crops.py reads); returns the crops written. AccessRefused (logged) for
    anyone but a system administrator, or without one of the six purposes."""
    now = now or datetime.now(timezone.utc)
    user = operator(store, badge, pin, now)
    role = str(user["role"])
    why = (
        "only an ALPR system administrator may export the QA crop set"
        if role != "administrator"
        else None
        if purpose in PURPOSES
        else "an export needs one of the six authorised purposes"
    )
    if why:
        store.log_access(now, badge, role, "qa_export", purpose or None, {}, None, why)
        raise AccessRefused(why)
    items = qa_items(store)
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for it in items:
        img = cv2.imdecode(np.frombuffer(it["crop"], np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            continue
        name = f"images/{it['unit_id']}-{it['read_id']}.jpg"
        (out / name).write_bytes(it["crop"])
        h, w = img.shape[:2]
        box = plate_in_crop(w, h)
        plate = {"text": it["text"], "bbox": box, "region": "us", "state": it["state"]}
        source = {k: it[k] for k in ("read_id", "unit_id", "camera_id", "model", "read_utc")}
        lines.append(
            json.dumps(
                {
                    "image": name,
                    "width": w,
                    "height": h,
                    "plates": [plate],
                    "label": it["label"],
                    "read_text": it["read_text"],
                    "source": source,
                }
            )
        )
    (out / "manifest.jsonl").write_text("".join(line + "\n" for line in lines))
    store.log_access(now, badge, role, "qa_export", purpose, {"out": str(out)}, len(lines))
    return len(lines)


def qa_export_main(a: argparse.Namespace) -> int:
    from alprd.hq.store import open_for

    if not (a.user and a.purpose and a.out not in (None, ".")):
        print("hq qa-export: give --user BADGE, --purpose and --out DIR", file=sys.stderr)
        return 2
    pin = read_pin(a)
    store = open_for("qa-export", a.db, a.index_key)
    if store is None:
        return 1
    try:
        n = export(store, a.user, pin, a.purpose, Path(a.out))
    except AccessRefused as exc:
        print(f"hq qa-export: refused: {exc}", file=sys.stderr)
        return 3
    finally:
        store.close()
    print(
        f"hq qa-export: {n} labelled crop(s) in {a.out} (manifest.jsonl, images/); the export "
        "is in HQ's access log. It holds ALPR data: keep it under the reads' retention"
    )
    return 0
