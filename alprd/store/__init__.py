"""The vehicle's SQLite store: reads, hits and the durable outbox, in one file.

WAL, synchronous=FULL, one writer (a lock around one connection), versioned migrations
(PRAGMA user_version). A read and its outbox record are written in one transaction, so a
power cut leaves both or neither. Outbox rows are deleted only on HQ's acknowledgement.
Plate texts, crops and outbox records are sealed with AES-256-GCM (store/crypto.py, POL-13):
encryption cannot be turned off.
"""
from __future__ import annotations

import base64
import json
import logging
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from alprd.store.crypto import Sealer, TamperError
from alprd.types import Hit, Read

log = logging.getLogger(__name__)

PRIORITY = {"breach": 0, "report": 0, "hit": 1, "disposition": 1, "read": 2, "ticket": 2,
            "audit": 2, "selftest": 2, "image": 3}

MIGRATIONS = [
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
]


class StoreError(Exception):
    """The database cannot be opened or written; the message says why."""


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    id: str
    kind: str
    body: dict


def read_body(r: Read) -> dict:
    """The uplinked form of a read (docs/protocol.md: read.v1)."""
    return {"id": r.id, "text": r.text, "confidence": r.confidence,
            "char_confidences": list(r.char_confidences), "state": r.state, "utc": r.utc,
            "time_source": r.time_source, "camera_id": r.camera_id, "unit_id": r.unit_id,
            "lat": r.lat, "lon": r.lon, "fix_quality": r.fix_quality, "bbox": list(r.bbox),
            "frames": r.frames, "crop_jpeg_b64": base64.b64encode(r.crop_jpeg).decode()}


def hit_body(h: Hit, unit_id: str) -> dict:
    e = h.entry
    return {"id": h.id, "read_id": h.read_id, "unit_id": unit_id, "utc": h.utc, "rule": h.rule,
            "differs": list(h.differs), "state_rule": h.state_rule,
            "plate": e.plate, "state": e.state, "list_type": e.list_type, "reason": e.reason,
            "priority": e.priority, "case_number": e.case_number}


class Store:
    def __init__(self, path: Path, key: bytes) -> None:
        self.path = Path(path)
        self.sealer = Sealer(key)
        self.tampered: set[str] = set()  # record ids that failed authentication
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10,
                                   isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()
        try:
            self.db.enable_wal()
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"database {self.path} is unusable: {exc}") from exc

    def _migrate(self) -> None:
        conn = self.db.conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} has schema {version}, newer than this alprd "
                             f"({len(MIGRATIONS)}): upgrade alprd")
        for n, sql in enumerate(MIGRATIONS[version:], version + 1):
            with self._transaction():
                for stmt in filter(str.strip, sql.split(";")):
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version={n}")
            log.info("store: migrated %s to schema %d", self.path, n)

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    # -- writes -------------------------------------------------------------------------
    @contextmanager
    def _transaction(self):
        """One write transaction under the writer lock: committed, or rolled back and the
        sqlite3 error re-raised."""
        conn = self.db.conn
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def add_read(self, read: Read, hits: list[Hit] = ()) -> None:
        """Store a read, its hits and their outbox records in one transaction."""
        self.add_reads([(read, hits)])

    def add_reads(self, items: list[tuple[Read, list[Hit]]]) -> None:
        """Store several reads with their hits in one transaction (all or none)."""
        try:
            with self._transaction():
                for read, hits in items:
                    self._insert(read, hits)
        except sqlite3.Error as exc:
            first = items[0][0].id if items else "-"
            raise StoreError(f"cannot store read {first}"
                             f"{f' and {len(items) - 1} more' if len(items) > 1 else ''}: "
                             f"{exc}") from exc

    def _insert(self, read: Read, hits: list[Hit]) -> None:
        conn = self.db.conn
        seal = self.sealer.seal
        conn.execute(
            "INSERT INTO reads (id, text, confidence, char_confidences, state, utc, "
            "time_source, camera_id, unit_id, lat, lon, fix_quality, crop, bbox, frames, "
            "text_hmac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (read.id, seal(read.text.encode(), f"reads/{read.id}/text"), read.confidence,
             json.dumps(read.char_confidences), read.state, read.utc, read.time_source,
             read.camera_id, read.unit_id, read.lat, read.lon, read.fix_quality,
             seal(read.crop_jpeg, f"reads/{read.id}/crop"), json.dumps(read.bbox),
             read.frames, self.sealer.plate_index(read.text)))
        self._outbox(read.id, "read", read_body(read))
        for h in hits:
            e = h.entry
            conn.execute(
                "INSERT INTO hits (id, read_id, plate, state, list_type, reason, "
                "priority, case_number, rule, utc, differs, state_rule) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (h.id, h.read_id, seal(e.plate.encode(), f"hits/{h.id}/plate"), e.state,
                 e.list_type, e.reason, e.priority,
                 e.case_number, h.rule, h.utc, json.dumps(h.differs), h.state_rule))
            self._outbox(h.id, "hit", hit_body(h, read.unit_id))

    def _outbox(self, record_id: str, kind: str, body: dict) -> None:
        self.db.conn.execute("INSERT INTO outbox (id, kind, priority, body) VALUES (?,?,?,?)",
                             (record_id, kind, PRIORITY[kind],
                              self.sealer.seal(json.dumps(body).encode(), f"outbox/{record_id}")))

    def pending(self, limit: int, exclude: set[str] = frozenset()) -> list[OutboxItem]:
        """Unacknowledged records, most urgent first."""
        with self._lock:
            rows = self.db.conn.execute(
                "SELECT seq, id, kind, body FROM outbox ORDER BY priority, seq LIMIT ?",
                (limit + len(exclude),)).fetchall()
        out = []
        for s, i, k, b in rows:
            if i in exclude or i in self.tampered:
                continue
            try:
                out.append(OutboxItem(s, i, k, json.loads(self.sealer.open(b, f"outbox/{i}"))))
            except TamperError as exc:
                self.tampered.add(i)  # kept, never sent: evidence for the breach report
                log.error("store: %s", exc)
                self.report_breach(f"outbox record {i} failed authentication")
        return out[:limit]

    def reads(self, limit: int = 100) -> list[dict]:
        """The newest reads, opened (for the page, searches and tests)."""
        return self._reads("", (), limit)

    def read(self, read_id: str) -> dict | None:
        """One read, opened, with its hits; None when there is no such read."""
        found = self._reads("WHERE id = ?", (read_id,), 1)
        return found[0] if found else None

    def search(self, plate: str | None = None, since: str | None = None,
               until: str | None = None, limit: int = 200) -> list[dict]:
        """Reads by exact plate (blind index, no decryption) and capture period, newest first."""
        where, args = [], []
        if plate:
            where.append("text_hmac = ?")
            args.append(self.sealer.plate_index(plate))
        if since:
            where.append("utc >= ?")
            args.append(since)
        if until:
            where.append("utc < ?")
            args.append(until)
        return self._reads("WHERE " + " AND ".join(where) if where else "", tuple(args), limit)

    def _reads(self, where: str, args: tuple, limit: int) -> list[dict]:
        with self._lock:
            cur = self.db.conn.execute(
                "SELECT id, text, confidence, state, utc, time_source, camera_id, unit_id, lat, "
                f"lon, fix_quality, crop, bbox, frames FROM reads {where} "
                "ORDER BY utc DESC LIMIT ?", (*args, limit))
            cols = [c[0] for c in cur.description]
            rows = cur.fetchall()
        out = []
        for row in rows:
            r = dict(zip(cols, row))
            r["text"] = self.sealer.open(r["text"], f"reads/{r['id']}/text").decode()
            r["crop"] = self.sealer.open(r["crop"], f"reads/{r['id']}/crop")
            r["bbox"] = json.loads(r["bbox"])
            out.append(r)
        return out

    def add_disposition(self, body: dict, report: dict | None = None, also=None) -> None:
        """A verify step or disposition on a hit (docs/protocol.md: disposition.v1), queued
        for HQ; with report, a priority report written in the same transaction, and with
        also (a function of the open connection, such as the audit record of the step),
        that too: all of it is stored, or none."""
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO dispositions (id, hit_id, utc, username, action, note) "
                    "VALUES (?,?,?,?,?,?)",
                    (body["id"], body["hit_id"], body["utc"], body["username"],
                     body["action"], self.sealer.seal((body.get("note") or "").encode(),
                                                      f"dispositions/{body['id']}/note")))
                self._outbox(body["id"], "disposition", body)
                if report:
                    self._outbox(report["id"], "report", report)
                if also:
                    also(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record {body['action']} on hit {body['hit_id']}: "
                             f"{exc}") from exc

    def dispositions(self, hit_id: str) -> list[dict]:
        with self._lock:
            rows = self.db.conn.execute(
                "SELECT id, utc, username, action FROM dispositions WHERE hit_id=? "
                "ORDER BY utc, rowid", (hit_id,)).fetchall()
        return [dict(zip(("id", "utc", "username", "action"), r)) for r in rows]

    def unclosed_hits(self, since_utc: str, closing: set[str]) -> list[dict]:
        """Hits since since_utc whose alert no disposition in closing has closed (what a
        restart mid-alert must put back on the screen), oldest first; each with its read
        (opened), the read's other hits, and the steps recorded so far."""
        marks = ",".join("?" * len(closing))
        with self._lock:
            rows = self.db.conn.execute(
                "SELECT id, read_id, plate, state, list_type, reason, case_number, rule, "
                "differs, state_rule FROM hits h WHERE utc >= ? AND NOT EXISTS (SELECT 1 "
                f"FROM dispositions d WHERE d.hit_id = h.id AND d.action IN ({marks})) "
                "ORDER BY utc, rowid", (since_utc, *sorted(closing))).fetchall()
        by_read: dict[str, list[dict]] = {}
        for r in rows:
            hit = dict(zip(("id", "read_id", "plate", "state", "list_type", "reason",
                            "case_number", "rule", "differs", "state_rule"), r))
            hit["plate"] = self.sealer.open(hit["plate"], f"hits/{hit['id']}/plate").decode()
            hit["differs"] = json.loads(hit["differs"])
            by_read.setdefault(hit.pop("read_id"), []).append(hit)
        out = []
        for read_id, hits in by_read.items():
            read = self.read(read_id)
            if read is None:  # purged by retention
                continue
            out.append({"read": read, "hits": hits,
                        "dispositions": self.dispositions(hits[0]["id"])})
        return out

    def hit_plates(self) -> list[str]:
        with self._lock:
            rows = self.db.conn.execute("SELECT id, plate FROM hits").fetchall()
        return [self.sealer.open(p, f"hits/{i}/plate").decode() for i, p in rows]

    def acknowledge(self, ids: list[str]) -> int:
        """HQ has these records: drop them from the outbox. Returns how many were pending."""
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with self._transaction() as conn:
            n = conn.execute(f"DELETE FROM outbox WHERE id IN ({marks})", ids).rowcount
            conn.execute(f"UPDATE reads SET uplinked=1 WHERE id IN ({marks})", ids)
            conn.execute(f"UPDATE audit SET uplinked=1 WHERE id IN ({marks})", ids)
        return n

    def bump(self, name: str, by: int = 1) -> None:
        with self._lock:
            self.db.conn.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (name, by))

    def counter(self, name: str) -> int:
        with self._lock:
            row = self.db.conn.execute("SELECT value FROM counters WHERE name=?",
                                       (name,)).fetchone()
        return row[0] if row else 0

    def queue(self, kind: str, body: dict) -> None:
        """Queue a record other than a read (a ticket, a report) for HQ, durably."""
        try:
            with self._transaction():
                self._outbox(body["id"], kind, body)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot queue {kind} {body['id']}: {exc}") from exc

    def distinct_plates(self) -> int:
        """How many different plates the stored reads hold (POL-14), without decrypting."""
        with self._lock:
            return self.db.conn.execute(
                "SELECT count(DISTINCT text_hmac) FROM reads").fetchone()[0]

    def report_breach(self, reason: str) -> str:
        """Queue a top-priority breach report for HQ (POL-14): what happened and how many
        distinct plates are in the data at risk. Returns the report's id."""
        import uuid
        from datetime import datetime, timezone
        rid = str(uuid.uuid4())
        body = {"id": rid, "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "reason": reason, "reads_at_risk": self.count("reads"),
                "distinct_plates_at_risk": self.distinct_plates(),
                "tampered_records": sorted(self.tampered)}
        try:
            with self._transaction():
                self._outbox(rid, "breach", body)
        except sqlite3.Error as exc:
            log.error("store: cannot queue the breach report (%s): %s", reason, exc)
            return rid
        log.critical("breach report queued for HQ: %s; %d distinct plates at risk", reason,
                     body["distinct_plates_at_risk"])
        return rid

    def purge_acknowledged(self, before_utc: str) -> int:
        """Delete reads HQ has acknowledged that were captured before before_utc (ISO),
        with their hits. Unacknowledged reads are never purged here."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM hits WHERE read_id IN (SELECT id FROM reads WHERE "
                         "uplinked=1 AND utc < ?) AND id NOT IN (SELECT id FROM outbox)",
                         (before_utc,))
            n = conn.execute("DELETE FROM reads WHERE uplinked=1 AND utc < ? AND id NOT IN "
                             "(SELECT read_id FROM hits)", (before_utc,)).rowcount
        return n

    # -- queries ------------------------------------------------------------------------
    def outbox_depth(self) -> int:
        with self._lock:
            return self.db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def count(self, table: str) -> int:
        if table not in ("reads", "hits", "outbox", "dispositions", "audit"):
            raise ValueError(table)
        with self._lock:
            return self.db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
