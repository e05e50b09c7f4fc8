"""A vehicle database as alprd wrote it before #23 item 11 (schema 5: read times, positions
and hit reasons in clear), for the migration test."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alprd.store.crypto import Sealer
from alprd.store.db import MIGRATIONS

UTC = "2026-11-20T10:00:00.000Z"


def make_schema5_db(path: Path, key: bytes, lat: float, lon: float, reason: str) -> Path:
    sealer = Sealer(key)
    conn = sqlite3.connect(path, isolation_level=None)
    for n, sql in enumerate(MIGRATIONS[:5], 1):
        for stmt in filter(str.strip, sql.split(";")):
            conn.execute(stmt)
        conn.execute(f"PRAGMA user_version={n}")
    conn.execute(
        "INSERT INTO reads (id, text, confidence, char_confidences, state, utc, time_source, "
        "camera_id, unit_id, lat, lon, fix_quality, crop, bbox, frames, text_hmac) VALUES "
        "('r1', ?, 0.9, '[0.9]', 'CA', ?, 'system', 'rear', 'OLD-1', ?, ?, 1, ?, '[0,0,1,1]', "
        "3, ?)",
        (
            sealer.seal(b"7OLD001", "reads/r1/text"),
            UTC,
            lat,
            lon,
            sealer.seal(b"\xff\xd8jpeg", "reads/r1/crop"),
            sealer.plate_index("7OLD001"),
        ),
    )
    conn.execute(
        "INSERT INTO hits (id, read_id, plate, state, list_type, reason, priority, case_number, "
        "rule, utc) VALUES ('h1', 'r1', ?, 'CA', 'stolen_vehicle', ?, 1, 'C-1', 'exact', ?)",
        (sealer.seal(b"7OLD001", "hits/h1/plate"), reason, UTC),
    )
    conn.close()
    return path
