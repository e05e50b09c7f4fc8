"""The vehicle's SQLite database: one file, WAL, synchronous=FULL, one writer (a lock around
one connection), versioned migrations (PRAGMA user_version), sealed fields (store/crypto.py).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from alprd.store.crypto import Sealer

log = logging.getLogger(__name__)

# each step: SQL statements, or a function of the connection and the sealer
MIGRATIONS: list[str | Callable[[sqlite3.Connection, Sealer], None]] = [
    # 1: the first schema
    """
    CREATE TABLE reads (
        id TEXT PRIMARY KEY, text TEXT NOT NULL, confidence REAL NOT NULL,
        char_confidences TEXT NOT NULL, state TEXT, utc TEXT NOT NULL,
        time_source TEXT NOT NULL, camera_id TEXT NOT NULL, unit_id TEXT NOT NULL,
        lat REAL, lon REAL, fix_quality INTEGER NOT NULL, crop BLOB NOT NULL,
        bbox TEXT NOT NULL, frames INTEGER NOT NULL, uplinked INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX reads_utc ON reads(utc);
    CREATE INDEX reads_text ON reads(text);
    CREATE TABLE hits (
        id TEXT PRIMARY KEY, read_id TEXT NOT NULL REFERENCES reads(id), plate TEXT NOT NULL,
        state TEXT, list_type TEXT NOT NULL, reason TEXT NOT NULL, priority INTEGER NOT NULL,
        case_number TEXT, rule TEXT NOT NULL, utc TEXT NOT NULL);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
        priority INTEGER NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX outbox_order ON outbox(priority, seq);
    """,
    # 2: counters for what is deliberately not stored (no-capture zones, full disk)
    """
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
    # 3: which characters of a look-alike hit differ, and how the states compared
    """
    ALTER TABLE hits ADD COLUMN differs TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE hits ADD COLUMN state_rule TEXT NOT NULL DEFAULT 'same';
    """,
    # 4: texts are sealed; a keyed HMAC of the text serves lookups (blind index)
    """
    DROP INDEX reads_text;
    ALTER TABLE reads ADD COLUMN text_hmac TEXT NOT NULL DEFAULT '';
    CREATE INDEX reads_text_hmac ON reads(text_hmac);
    """,
    # 5: the officer's verify steps and dispositions on hits; the hash-chained audit log
    """
    CREATE TABLE dispositions (
        id TEXT PRIMARY KEY, hit_id TEXT NOT NULL, utc TEXT NOT NULL, username TEXT NOT NULL,
        action TEXT NOT NULL, note BLOB);
    CREATE INDEX dispositions_hit ON dispositions(hit_id);
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, utc TEXT NOT NULL,
        username TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, purpose TEXT,
        query BLOB, result_count INTEGER, detail BLOB, prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL, uplinked INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX audit_utc ON audit(utc);
    CREATE TABLE anchors (name TEXT PRIMARY KEY, sealed BLOB NOT NULL);
    """,
    # 6: read times and positions, hit reasons and case numbers sealed (see below)
    lambda conn, sealer: _seal_times_and_places(conn, sealer),
]


def seal_meta(sealer: Sealer, table: str, row_id: str, meta: dict[str, Any]) -> bytes:
    """The sealed fields of a read (utc, lat, lon, state_confidence) or a hit (reason,
    case_number, utc)."""
    return sealer.seal(json.dumps(meta).encode(), f"{table}/{row_id}/meta")


def open_meta(sealer: Sealer, table: str, row_id: str, blob: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(sealer.open(blob, f"{table}/{row_id}/meta"))
    return meta


def _seal_times_and_places(conn: sqlite3.Connection, sealer: Sealer) -> None:
    """Migration 6: a stolen card must not give a movement track per plate (the blind index
    links a plate's reads): times, positions, hit reasons and case numbers leave the clear
    columns for one sealed `meta` per row."""
    conn.execute("ALTER TABLE reads ADD COLUMN meta BLOB")
    conn.execute("ALTER TABLE hits ADD COLUMN meta BLOB")
    conn.execute("DROP INDEX IF EXISTS reads_utc")
    for rid, utc, lat, lon in conn.execute("SELECT id, utc, lat, lon FROM reads").fetchall():
        conn.execute(
            "UPDATE reads SET meta=?, utc='', lat=NULL, lon=NULL WHERE id=?",
            (seal_meta(sealer, "reads", rid, {"utc": utc, "lat": lat, "lon": lon}), rid),
        )
    for hid, reason, case, utc in conn.execute(
        "SELECT id, reason, case_number, utc FROM hits"
    ).fetchall():
        conn.execute(
            "UPDATE hits SET meta=?, reason='', case_number=NULL, utc='' WHERE id=?",
            (
                seal_meta(sealer, "hits", hid, {"reason": reason, "case_number": case, "utc": utc}),
                hid,
            ),
        )


class StoreError(Exception):
    """The database cannot be opened or written; the message says why."""


class Database:
    """The connection, its migrations and its writer lock; transaction() is the one way to
    write (the audit log writes its records inside the store's transactions)."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = Path(path)
        self.sealer = Sealer(key)
        self.tampered: set[str] = set()  # record ids that failed authentication
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path), check_same_thread=False, timeout=10, isolation_level=None
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self.db = sqlite_utils.Database(conn)
        self.lock = threading.RLock()  # the one writer; readers take it too
        try:
            self.db.enable_wal()
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not left
            conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"database {self.path} is unusable: {exc}") from exc

    def _migrate(self) -> None:
        conn = self.db.conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema {version}, newer than this alprd "
                f"({len(MIGRATIONS)}): upgrade alprd"
            )
        for n, step in enumerate(MIGRATIONS[version:], version + 1):
            with self.transaction():
                if callable(step):
                    step(conn, self.sealer)
                else:
                    for stmt in (s for s in step.split(";") if s.strip()):
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version={n}")
            log.info("store: migrated %s to schema %d", self.path, n)
        if version < len(MIGRATIONS):  # what a migration replaced leaves the WAL too
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self.lock:
            self.db.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the writer lock: committed, or rolled back and the
        sqlite3 error re-raised."""
        conn = self.db.conn
        with self.lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def bump(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.db.conn.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (name, by),
            )

    def counter(self, name: str) -> int:
        with self.lock:
            row = self.db.conn.execute(
                "SELECT value FROM counters WHERE name=?", (name,)
            ).fetchone()
        return row[0] if row else 0

    def count(self, table: str) -> int:
        if table not in ("reads", "hits", "outbox", "dispositions", "audit"):
            raise ValueError(table)
        with self.lock:
            return int(self.db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
