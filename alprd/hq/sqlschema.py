"""HQ's SQLite schema, as numbered migrations (HqStore applies each once, in one transaction,
by PRAGMA user_version). Never edit a migration that has shipped: add the next one."""

from __future__ import annotations

import json
import sqlite3

from alprd.hq.schema import plate_index


def migrate_1(conn: sqlite3.Connection) -> None:
    """The tables as the first reference HQ made them (kept so an old file opens)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, unit_id TEXT NOT "
        "NULL, kind TEXT NOT NULL, body TEXT NOT NULL, received_utc TEXT NOT NULL)"
    )
    cols = {c[1] for c in conn.execute("PRAGMA table_info(records)")}
    if "captured_utc" not in cols:
        conn.execute("ALTER TABLE records ADD COLUMN captured_utc TEXT")
        conn.execute("ALTER TABLE records ADD COLUMN logical_deleted_utc TEXT")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS holds (ref TEXT PRIMARY KEY, "
        "reason TEXT NOT NULL, placed_utc TEXT NOT NULL, "
        "reviewed_utc TEXT NOT NULL, released_utc TEXT)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS hold_records (ref TEXT NOT NULL, "
        "record_id TEXT NOT NULL, PRIMARY KEY (ref, record_id))"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS access_log (seq INTEGER PRIMARY KEY, "
        "utc TEXT NOT NULL, username TEXT NOT NULL, role TEXT NOT NULL, "
        "action TEXT NOT NULL, purpose TEXT, query TEXT NOT NULL, "
        "ground TEXT, request_ref TEXT, result_count INTEGER, refused TEXT)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS published (kind TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    # records that break their schema: kept as received, with the reason, for an
    # administrator to look at; acknowledged, so the car stops sending them
    conn.execute(
        "CREATE TABLE IF NOT EXISTS refused (id TEXT PRIMARY KEY, "
        "unit_id TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, "
        "reason TEXT NOT NULL, received_utc TEXT NOT NULL)"
    )


def migrate_2(conn: sqlite3.Connection, key: bytes) -> None:
    """A record is one per (unit, id): another car's id is another record. Plates are found
    by their blind index; unit and time ranges by index. The fleet's health per car."""
    conn.execute("ALTER TABLE records RENAME TO records_1")
    conn.execute(
        "CREATE TABLE records (unit_id TEXT NOT NULL, id TEXT NOT NULL, "
        "kind TEXT NOT NULL, body TEXT NOT NULL, received_utc TEXT NOT NULL, "
        "captured_utc TEXT NOT NULL, logical_deleted_utc TEXT, plate_index BLOB, "
        "PRIMARY KEY (unit_id, id))"
    )
    rows = conn.execute(
        "SELECT unit_id, id, kind, body, received_utc, captured_utc, "
        "logical_deleted_utc FROM records_1"
    ).fetchall()
    conn.executemany(
        "INSERT INTO records VALUES (?,?,?,?,?,?,?,?)",
        [
            (*r[:5], r[5] or json.loads(r[3]).get("utc") or r[4], r[6], _plate_of(key, r[2], r[3]))
            for r in rows
        ],
    )
    conn.execute("DROP TABLE records_1")
    conn.execute(
        "CREATE INDEX records_plate ON records (plate_index) WHERE plate_index IS NOT NULL"
    )
    conn.execute("CREATE INDEX records_unit_time ON records (unit_id, captured_utc)")
    conn.execute("CREATE INDEX records_time ON records (captured_utc)")
    conn.execute("ALTER TABLE refused RENAME TO refused_1")
    conn.execute(
        "CREATE TABLE refused (unit_id TEXT NOT NULL, id TEXT NOT NULL, "
        "kind TEXT NOT NULL, body TEXT NOT NULL, reason TEXT NOT NULL, "
        "received_utc TEXT NOT NULL, PRIMARY KEY (unit_id, id))"
    )
    conn.execute(
        "INSERT INTO refused SELECT unit_id, id, kind, body, reason, received_utc FROM refused_1"
    )
    conn.execute("DROP TABLE refused_1")
    conn.execute(
        "CREATE TABLE units (unit_id TEXT PRIMARY KEY, last_seen_utc TEXT, "
        "records INTEGER NOT NULL DEFAULT 0, uplink_lag_s REAL, prev_lag_s REAL, "
        "last_selftest_utc TEXT, open_tickets INTEGER NOT NULL DEFAULT 0, "
        "hotlist_version INTEGER, hotlist_age_s REAL, outbox_depth INTEGER)"
    )
    # the last hotlist published, to send the next import as a delta against it
    conn.execute(
        "CREATE TABLE hotlist_published (one INTEGER PRIMARY KEY CHECK (one = 1), "
        "version INTEGER NOT NULL, entries TEXT NOT NULL, snapshot INTEGER NOT NULL)"
    )


def _plate_of(key: bytes, kind: str, body: str) -> bytes | None:
    if kind != "read":
        return None
    text = json.loads(body).get("text")
    return plate_index(key, text) if isinstance(text, str) else None


def migrate_3(conn: sqlite3.Connection) -> None:
    """Each car's parts as its own strip shows them (up.v1 status health, problems), and the
    last roster HQ published: its operators sign in to search with it (#36)."""
    conn.execute("ALTER TABLE units ADD COLUMN car_health TEXT")
    conn.execute(
        "CREATE TABLE roster_published (one INTEGER PRIMARY KEY CHECK (one = 1), "
        "version INTEGER NOT NULL, users TEXT NOT NULL)"
    )


SCHEMA_VERSION = 3
