"""HQ's record store (SQLite, the embedded default): records stored once by id, legal holds,
retention (POL-09) and searches with their access log (POL-02, POL-10)."""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

from alprd import retention
from alprd.hq.access import AccessRefused, refusal
from alprd.protocol import check_record

log = logging.getLogger(__name__)


class HqStore:
    def __init__(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, unit_id TEXT NOT NULL, "
            "kind TEXT NOT NULL, body TEXT NOT NULL, received_utc TEXT NOT NULL)")
        cols = {c[1] for c in self.conn.execute("PRAGMA table_info(records)")}
        if "captured_utc" not in cols:
            self.conn.execute("ALTER TABLE records ADD COLUMN captured_utc TEXT")
            self.conn.execute("ALTER TABLE records ADD COLUMN logical_deleted_utc TEXT")
        self.conn.execute("CREATE TABLE IF NOT EXISTS holds (ref TEXT PRIMARY KEY, "
                          "reason TEXT NOT NULL, placed_utc TEXT NOT NULL, "
                          "reviewed_utc TEXT NOT NULL, released_utc TEXT)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS hold_records (ref TEXT NOT NULL, "
                          "record_id TEXT NOT NULL, PRIMARY KEY (ref, record_id))")
        self.conn.execute("CREATE TABLE IF NOT EXISTS access_log (seq INTEGER PRIMARY KEY, "
                          "utc TEXT NOT NULL, username TEXT NOT NULL, role TEXT NOT NULL, "
                          "action TEXT NOT NULL, purpose TEXT, query TEXT NOT NULL, "
                          "ground TEXT, request_ref TEXT, result_count INTEGER, "
                          "refused TEXT)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS published (kind TEXT PRIMARY KEY, "
                          "version INTEGER NOT NULL)")
        # records that break their schema: kept as received, with the reason, for an
        # administrator to look at; acknowledged, so the car stops sending them
        self.conn.execute("CREATE TABLE IF NOT EXISTS refused (id TEXT PRIMARY KEY, "
                          "unit_id TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, "
                          "reason TEXT NOT NULL, received_utc TEXT NOT NULL)")
        self.lock = threading.Lock()
        self.duplicates = 0

    def add(self, unit: str, records: list[dict]) -> list[str]:
        """Store a batch in one transaction: each record whose body passes its schema, once by
        id; the others go to `refused` with the reason. Returns the refused ids. Any error
        rolls the whole batch back (nothing acknowledged, the car sends it again)."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        refused = []
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                for r in records:
                    try:
                        check_record(r["kind"], r["body"])
                        named = r["body"].get("unit_id")
                        if named is not None and named != unit:
                            raise ValueError(f"{r['kind']}: names unit {str(named)[:64]!r} "
                                             f"but came from {unit!r}")
                    except ValueError as exc:
                        refused.append(r["id"])
                        self.conn.execute(
                            "INSERT OR IGNORE INTO refused (id, unit_id, kind, body, reason, "
                            "received_utc) VALUES (?,?,?,?,?,?)",
                            (r["id"], unit, r["kind"], json.dumps(r["body"])[:65536],
                             str(exc)[:500], now))
                        log.warning("hq: record %s from %s refused: %s", r["id"][:64], unit,
                                    exc)
                        continue
                    cur = self.conn.execute(
                        "INSERT OR IGNORE INTO records (id, unit_id, kind, body, received_utc, "
                        "captured_utc) VALUES (?,?,?,?,?,?)",
                        (r["id"], unit, r["kind"], json.dumps(r["body"]), now,
                         r["body"]["utc"]))
                    self.duplicates += cur.rowcount == 0
                self.conn.execute("COMMIT")
            except BaseException:  # nothing of the batch is kept; the connection stays usable
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        return refused

    def refused(self) -> list[dict]:
        """The records refused for breaking their schema, with the reason."""
        with self.lock:
            cur = self.conn.execute("SELECT id, unit_id, kind, reason, received_utc, body "
                                    "FROM refused ORDER BY received_utc, id")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def next_version(self, kind: str, candidate: int) -> int:
        """The version to publish a hotlist or roster under: candidate (from HQ's clock), or
        one more than the last one published if that is not lower; kept in the database. A
        clock stepped back at HQ must never make every car refuse the next update."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                row = self.conn.execute("SELECT version FROM published WHERE kind=?",
                                        (kind,)).fetchone()
                version = max(candidate, (row[0] + 1) if row else 1)
                self.conn.execute("INSERT INTO published (kind, version) VALUES (?, ?) ON "
                                  "CONFLICT(kind) DO UPDATE SET version=excluded.version",
                                  (kind, version))
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        return version

    # -- retention (POL-09) ---------------------------------------------------------------
    def place_hold(self, ref: str, reason: str, record_ids: list[str], now: datetime) -> None:
        """A legal hold by DR or case number on these records, until released."""
        t = now.isoformat()
        with self.lock:
            self.conn.execute("BEGIN")
            self.conn.execute("INSERT OR IGNORE INTO holds (ref, reason, placed_utc, "
                              "reviewed_utc) VALUES (?,?,?,?)", (ref, reason, t, t))
            self.conn.executemany("INSERT OR IGNORE INTO hold_records VALUES (?,?)",
                                  [(ref, i) for i in record_ids])
            self.conn.execute("COMMIT")

    def release_hold(self, ref: str, now: datetime) -> None:
        with self.lock:
            self.conn.execute("UPDATE holds SET released_utc=? WHERE ref=?",
                              (now.isoformat(), ref))

    def review_hold(self, ref: str, now: datetime) -> None:
        with self.lock:
            self.conn.execute("UPDATE holds SET reviewed_utc=? WHERE ref=?",
                              (now.isoformat(), ref))

    def holds_due_for_review(self, now: datetime) -> list[str]:
        with self.lock:
            rows = self.conn.execute("SELECT ref, reviewed_utc FROM holds "
                                     "WHERE released_utc IS NULL").fetchall()
        return [ref for ref, reviewed in rows
                if retention.hold_review_due(retention.parse_utc(reviewed)) <= now]

    def apply_retention(self, now: datetime) -> tuple[int, int]:
        """Flag records due for logical deletion, delete those due for permanent deletion
        (crops are inside the record); held records are untouched. (logical, permanent)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT r.id, r.captured_utc, r.logical_deleted_utc, EXISTS (SELECT 1 FROM "
                "hold_records h JOIN holds USING (ref) WHERE h.record_id = r.id AND "
                "holds.released_utc IS NULL) FROM records r").fetchall()
            logical, permanent = [], []
            for rid, captured, flagged, held in rows:
                verdict = retention.decide(retention.parse_utc(captured), now, bool(held))
                if verdict == "permanent":
                    permanent.append((rid,))
                elif verdict == "logical" and not flagged:
                    logical.append((now.isoformat(), rid))
            self.conn.execute("BEGIN")
            self.conn.executemany("UPDATE records SET logical_deleted_utc=? WHERE id=?",
                                  logical)
            self.conn.executemany("DELETE FROM records WHERE id=?", permanent)
            self.conn.executemany("DELETE FROM hold_records WHERE record_id=?", permanent)
            self.conn.execute("COMMIT")
        return len(logical), len(permanent)

    def visible_ids(self, role: str) -> set[str]:
        """Record ids a role may see: data users never see logically deleted records."""
        sql = "SELECT id FROM records"
        if role != "administrator":
            sql += " WHERE logical_deleted_utc IS NULL"
        with self.lock:
            return {r[0] for r in self.conn.execute(sql)}

    def search(self, username: str, role: str, purpose: str, plate: str,
               include_deleted: bool = False, ground: str | None = None,
               request_ref: str | None = None, now: datetime | None = None) -> list[dict]:
        """Reads of a plate, for data users and administrators, with one of the six purposes
        (POL-02). Logically deleted reads only for an administrator, with a listed ground and
        the Form 15.02.00 reference (POL-10). Every search, allowed or refused, is logged."""
        why = refusal(role, purpose, include_deleted, ground, request_ref)
        sql = ("SELECT id, unit_id, body, logical_deleted_utc FROM records WHERE kind='read' "
               "AND json_extract(body, '$.text') = ?")
        if not include_deleted:
            sql += " AND logical_deleted_utc IS NULL"
        with self.lock:
            rows = [] if why else self.conn.execute(sql, (plate,)).fetchall()
            self.conn.execute(
                "INSERT INTO access_log (utc, username, role, action, purpose, query, ground, "
                "request_ref, result_count, refused) VALUES (?,?,?,?,?,?,?,?,?,?)",
                ((now or datetime.now(timezone.utc)).isoformat(), username, role,
                 "search_deleted" if include_deleted else "search", purpose,
                 json.dumps({"plate": plate}), ground, request_ref,
                 None if why else len(rows), why))
        if why:
            log.warning("hq: search by %s refused: %s", username, why)
            raise AccessRefused(why)
        return [{"id": i, "unit_id": u, **json.loads(b), "logically_deleted_utc": d}
                for i, u, b, d in rows]

    def access_log(self) -> list[dict]:
        with self.lock:
            cur = self.conn.execute("SELECT * FROM access_log ORDER BY seq")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def count(self, kind: str | None = None) -> int:
        with self.lock:
            if kind:
                return self.conn.execute("SELECT count(*) FROM records WHERE kind=?",
                                         (kind,)).fetchone()[0]
            return self.conn.execute("SELECT count(*) FROM records").fetchone()[0]

    def close(self) -> None:
        with self.lock:
            self.conn.close()
