"""HQ's record store (SQLite, the embedded default): records stored once per (unit, id),
legal holds, retention (POL-09) and searches with their access log (POL-02, POL-10)."""
from __future__ import annotations

from typing import Any
import json
import logging
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from alprd.protocol import retention
from alprd.hq.access import AccessRefused, access_row, in_state, refusal
from alprd.hq.keys import load_index_key
from alprd.hq.sealing import body_keys_path, load_body_keys
from alprd.hq.schema import (Batch, IndexKeyed, batch_health, captured, check_batch,
                             clean_status, plate_index, refused_body)

log = logging.getLogger(__name__)


def _migrate_1(conn) -> None:
    """The tables as the first reference HQ made them (kept so an old file opens)."""
    conn.execute("CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, unit_id TEXT NOT "
                 "NULL, kind TEXT NOT NULL, body TEXT NOT NULL, received_utc TEXT NOT NULL)")
    cols = {c[1] for c in conn.execute("PRAGMA table_info(records)")}
    if "captured_utc" not in cols:
        conn.execute("ALTER TABLE records ADD COLUMN captured_utc TEXT")
        conn.execute("ALTER TABLE records ADD COLUMN logical_deleted_utc TEXT")
    conn.execute("CREATE TABLE IF NOT EXISTS holds (ref TEXT PRIMARY KEY, "
                 "reason TEXT NOT NULL, placed_utc TEXT NOT NULL, "
                 "reviewed_utc TEXT NOT NULL, released_utc TEXT)")
    conn.execute("CREATE TABLE IF NOT EXISTS hold_records (ref TEXT NOT NULL, "
                 "record_id TEXT NOT NULL, PRIMARY KEY (ref, record_id))")
    conn.execute("CREATE TABLE IF NOT EXISTS access_log (seq INTEGER PRIMARY KEY, "
                 "utc TEXT NOT NULL, username TEXT NOT NULL, role TEXT NOT NULL, "
                 "action TEXT NOT NULL, purpose TEXT, query TEXT NOT NULL, "
                 "ground TEXT, request_ref TEXT, result_count INTEGER, refused TEXT)")
    conn.execute("CREATE TABLE IF NOT EXISTS published (kind TEXT PRIMARY KEY, "
                 "version INTEGER NOT NULL)")
    # records that break their schema: kept as received, with the reason, for an
    # administrator to look at; acknowledged, so the car stops sending them
    conn.execute("CREATE TABLE IF NOT EXISTS refused (id TEXT PRIMARY KEY, "
                 "unit_id TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, "
                 "reason TEXT NOT NULL, received_utc TEXT NOT NULL)")


def _migrate_2(conn, key: bytes) -> None:
    """A record is one per (unit, id): another car's id is another record. Plates are found
    by their blind index; unit and time ranges by index. The fleet's health per car."""
    conn.execute("ALTER TABLE records RENAME TO records_1")
    conn.execute("CREATE TABLE records (unit_id TEXT NOT NULL, id TEXT NOT NULL, "
                 "kind TEXT NOT NULL, body TEXT NOT NULL, received_utc TEXT NOT NULL, "
                 "captured_utc TEXT NOT NULL, logical_deleted_utc TEXT, plate_index BLOB, "
                 "PRIMARY KEY (unit_id, id))")
    rows = conn.execute("SELECT unit_id, id, kind, body, received_utc, captured_utc, "
                        "logical_deleted_utc FROM records_1").fetchall()
    conn.executemany(
        "INSERT INTO records VALUES (?,?,?,?,?,?,?,?)",
        [(*r[:5], r[5] or json.loads(r[3]).get("utc") or r[4], r[6],
          _plate_of(key, r[2], r[3])) for r in rows])
    conn.execute("DROP TABLE records_1")
    conn.execute("CREATE INDEX records_plate ON records (plate_index) "
                 "WHERE plate_index IS NOT NULL")
    conn.execute("CREATE INDEX records_unit_time ON records (unit_id, captured_utc)")
    conn.execute("CREATE INDEX records_time ON records (captured_utc)")
    conn.execute("ALTER TABLE refused RENAME TO refused_1")
    conn.execute("CREATE TABLE refused (unit_id TEXT NOT NULL, id TEXT NOT NULL, "
                 "kind TEXT NOT NULL, body TEXT NOT NULL, reason TEXT NOT NULL, "
                 "received_utc TEXT NOT NULL, PRIMARY KEY (unit_id, id))")
    conn.execute("INSERT INTO refused SELECT unit_id, id, kind, body, reason, received_utc "
                 "FROM refused_1")
    conn.execute("DROP TABLE refused_1")
    conn.execute("CREATE TABLE units (unit_id TEXT PRIMARY KEY, last_seen_utc TEXT, "
                 "records INTEGER NOT NULL DEFAULT 0, uplink_lag_s REAL, prev_lag_s REAL, "
                 "last_selftest_utc TEXT, open_tickets INTEGER NOT NULL DEFAULT 0, "
                 "hotlist_version INTEGER, hotlist_age_s REAL, outbox_depth INTEGER)")
    # the last hotlist published, to send the next import as a delta against it
    conn.execute("CREATE TABLE hotlist_published (one INTEGER PRIMARY KEY CHECK (one = 1), "
                 "version INTEGER NOT NULL, entries TEXT NOT NULL, snapshot INTEGER NOT NULL)")


def _plate_of(key: bytes, kind: str, body: str) -> bytes | None:
    if kind != "read":
        return None
    text = json.loads(body).get("text")
    return plate_index(key, text) if isinstance(text, str) else None


SCHEMA_VERSION = 2


class HqStore(IndexKeyed):
    """HQ on one SQLite file: the embedded default (demo, tests, a small agency).
    alprd.hq.pgrecords.PgStore is the same on PostgreSQL."""

    backend = "sqlite"

    def __init__(self, path: Path, index_key: bytes | None = None, body_keys=None) -> None:
        """index_key: the plate index key (bytes, or a () -> bytes); by default the file
        PATH.index-key beside the database, made on first use. body_keys: the key ring that
        seals the bodies (alprd.hq.sealing; a BodySealer or a () -> one); by default the
        file PATH.body-keys, made on first use."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._key = index_key or (lambda: load_index_key(Path(str(path) + ".index-key")))
        self._sealer = body_keys or (lambda: load_body_keys(body_keys_path(path)))
        self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA busy_timeout=30000")  # ingest workers share the file
        self.conn.execute("PRAGMA secure_delete=ON")  # a resealed body leaves no old copy
        self.lock = threading.Lock()
        self.duplicates = 0
        self._migrate()

    def _migrate(self) -> None:
        """Versioned migrations (PRAGMA user_version), each in one transaction."""
        with self.lock:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"hq: database schema {version} is newer than this "
                                   f"alprd ({SCHEMA_VERSION})")
            steps = {1: _migrate_1, 2: lambda c: _migrate_2(c, self.key)}
            for v in range(version + 1, SCHEMA_VERSION + 1):
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    steps[v](self.conn)
                    self.conn.execute(f"PRAGMA user_version={v}")
                    self.conn.execute("COMMIT")
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                log.info("hq: database migrated to schema %d", v)

    def add(self, unit: str, records: list[dict[str, Any]],
            status: dict[str, Any] | None = None) -> list[str]:
        """Store a batch in one transaction: each record whose body passes its schema, once
        per (unit, id); the others go to `refused` with the reason. Returns the refused ids.
        Any error rolls the whole batch back (nothing acknowledged, the car sends it again).
        status: the car's own figures from its up message (hotlist version and age, outbox)."""
        return self.add_many([(unit, records, status)])[0]

    def add_many(self, batches: list[Batch]) -> list[list[str]]:
        """Several up messages in one transaction (one commit); each one's refused ids."""
        now_t = datetime.now(timezone.utc)
        now = now_t.isoformat(timespec="seconds")
        checked = [(unit, *check_batch(unit, records), status)
                   for unit, records, status in batches]
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                for unit, good, bad, status in checked:
                    self._add(unit, good, bad, status, now_t, now)
                self.conn.execute("COMMIT")
            except BaseException:  # nothing of the batch is kept; the connection stays usable
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        return [[r["id"] for r, _ in bad] for _, _, bad, _ in checked]

    def _add(self, unit, good, bad, status, now_t: datetime, now: str) -> None:
        for r, reason in bad:
            self.conn.execute(
                "INSERT OR IGNORE INTO refused (unit_id, id, kind, body, reason, "
                "received_utc) VALUES (?,?,?,?,?,?)",
                (unit, r["id"], r["kind"], self.seal_body(unit, r["id"], refused_body(r)),
                 reason, now))
        for r in good:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO records (unit_id, id, kind, body, received_utc, "
                "captured_utc, plate_index) VALUES (?,?,?,?,?,?,?)",
                (unit, r["id"], r["kind"], self.seal_body(unit, r["id"], r["body"]), now,
                 # the car's own text, or receipt's where that time cannot be true
                 r["body"]["utc"] if captured(r, now_t) is not now_t else now,
                 plate_index(self.key, r["body"]["text"]) if r["kind"] == "read" else None))
            self.duplicates += cur.rowcount == 0
        self._seen(unit, now, len(good), batch_health(good, now_t), clean_status(status))

    def _seen(self, unit: str, now: str, n: int, health: dict[str, Any],
              status: dict[str, Any]) -> None:
        self.conn.execute("INSERT INTO units (unit_id) VALUES (?) ON CONFLICT DO NOTHING",
                          (unit,))
        sets, args = ["last_seen_utc=?", "records=records+?"], [now, n]
        if health["lag_s"] is not None:
            sets += ["prev_lag_s=uplink_lag_s", "uplink_lag_s=?"]
            args.append(health["lag_s"])
        if health["last_selftest_utc"]:  # a passing self-test closes the tickets before it
            sets += ["last_selftest_utc=max(coalesce(last_selftest_utc, ''), ?)",
                     "open_tickets=0"]
            args.append(health["last_selftest_utc"])
        if health["tickets"]:
            sets.append("open_tickets=open_tickets+?")
            args.append(health["tickets"])
        for k, v in status.items():
            sets.append(f"{k}=?")
            args.append(v)
        self.conn.execute(f"UPDATE units SET {', '.join(sets)} WHERE unit_id=?",
                          (*args, unit))

    def last_hotlist(self) -> tuple[int, list[dict[str, Any]], bool] | None:
        """(version, entries, published as a snapshot) of the last hotlist published."""
        with self.lock:
            row = self.conn.execute("SELECT version, entries, snapshot FROM hotlist_published"
                                    ).fetchone()
        return (row[0], self.sealer.open(row[1], "hotlist_published"), bool(row[2])) \
            if row else None

    def save_hotlist(self, version: int, entries: list[dict[str, Any]], snapshot: bool) -> None:
        with self.lock:
            self.conn.execute("INSERT INTO hotlist_published VALUES (1, ?, ?, ?) ON CONFLICT "
                              "(one) DO UPDATE SET version=excluded.version, entries="
                              "excluded.entries, snapshot=excluded.snapshot",
                              (version, self.sealer.seal_text(entries, "hotlist_published"),
                               int(snapshot)))

    def units(self) -> list[dict[str, Any]]:
        """Each car as HQ last heard of it (alprd.hq.fleet adds the flags)."""
        with self.lock:
            cur = self.conn.execute("SELECT * FROM units ORDER BY unit_id")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def refused(self) -> list[dict[str, Any]]:
        """The records refused for breaking their schema, with the reason."""
        with self.lock:
            cur = self.conn.execute("SELECT id, unit_id, kind, reason, received_utc, body "
                                    "FROM refused ORDER BY received_utc, unit_id, id")
            cols = [c[0] for c in cur.description]
            rows = [dict(zip(cols, r)) for r in cur.fetchall()]
        return [{**r, "body": self.open_body(r["unit_id"], r["id"], r["body"])} for r in rows]

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
        (crops are inside the record); held records are untouched. (logical, permanent).
        Only records captured before the two-year mark (and two days of margin, for odd
        time zones) are looked at, by the time index; each is then decided exactly."""
        margin = (retention.add_years(now, -retention.LOGICAL_YEARS)
                  + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")
        with self.lock:
            rows = self.conn.execute(
                "SELECT r.unit_id, r.id, r.captured_utc, r.logical_deleted_utc, EXISTS ("
                "SELECT 1 FROM hold_records h JOIN holds USING (ref) WHERE h.record_id = r.id "
                "AND holds.released_utc IS NULL) FROM records r WHERE r.captured_utc < ?",
                (margin,)).fetchall()
            logical, permanent = [], []
            for unit, rid, captured, flagged, held in rows:
                verdict = retention.decide(retention.parse_utc(captured), now, bool(held))
                if verdict == "permanent":
                    permanent.append((unit, rid))
                elif verdict == "logical" and not flagged:
                    logical.append((now.isoformat(), unit, rid))
            self.conn.execute("BEGIN")
            self.conn.executemany("UPDATE records SET logical_deleted_utc=? WHERE unit_id=? "
                                  "AND id=?", logical)
            self.conn.executemany("DELETE FROM records WHERE unit_id=? AND id=?", permanent)
            self.conn.executemany(
                "DELETE FROM hold_records WHERE record_id=? AND NOT EXISTS (SELECT 1 FROM "
                "records WHERE id=?)", [(rid, rid) for _, rid in permanent])
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
               request_ref: str | None = None, now: datetime | None = None,
               state: str | None = None) -> list[dict[str, Any]]:
        """Reads of a plate (and state: access.in_state), for data users and administrators,
        with one of the six purposes (POL-02). Logically deleted reads only for an
        administrator, with a listed ground and the Form 15.02.00 reference (POL-10). Every
        search, allowed or refused, is logged."""
        why = refusal(role, purpose, include_deleted, ground, request_ref)
        sql = ("SELECT id, unit_id, body, logical_deleted_utc FROM records WHERE kind='read' "
               "AND plate_index = ?")
        if not include_deleted:
            sql += " AND logical_deleted_utc IS NULL"
        with self.lock:
            rows = [] if why else self.conn.execute(
                sql + " ORDER BY captured_utc DESC", (plate_index(self.key, plate),)).fetchall()
            found = [r for r in ({"id": i, "unit_id": u, **self.open_body(u, i, b),
                                  "logically_deleted_utc": d} for i, u, b, d in rows)
                     if in_state(r, state)]
            self.conn.execute(
                "INSERT INTO access_log (utc, username, role, action, purpose, query, ground, "
                "request_ref, result_count, refused) VALUES (?,?,?,?,?,?,?,?,?,?)",
                access_row((now or datetime.now(timezone.utc)).isoformat(), username, role,
                           purpose, plate, include_deleted, ground, request_ref, len(found),
                           why, self.seal_query, state))
        if why:
            log.warning("hq: search by %s refused: %s", username, why)
            raise AccessRefused(why)
        return found

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        """Every stored body of a kind, opened (for HQ's own tools and tests; searches by
        people go through search(), which the access log records)."""
        with self.lock:
            rows = self.conn.execute("SELECT unit_id, id, body FROM records WHERE kind=? "
                                     "ORDER BY captured_utc", (kind,)).fetchall()
        return [self.open_body(u, i, b) for u, i, b in rows]

    def _select(self, sql: str) -> list[Any]:
        with self.lock:
            return self.conn.execute(sql).fetchall()

    def _update(self, sql: str, rows: list[Any]) -> None:
        with self.lock:
            self.conn.execute("BEGIN")
            self.conn.executemany(sql.replace("%s", "?"), rows)
            self.conn.execute("COMMIT")

    def access_log(self) -> list[dict[str, Any]]:
        with self.lock:
            cur = self.conn.execute("SELECT * FROM access_log ORDER BY seq")
            cols = [c[0] for c in cur.description]
            return self.opened_log([dict(zip(cols, r)) for r in cur.fetchall()])

    def count(self, kind: str | None = None) -> int:
        with self.lock:
            if kind:
                return self.conn.execute("SELECT count(*) FROM records WHERE kind=?",
                                         (kind,)).fetchone()[0]
            return self.conn.execute("SELECT count(*) FROM records").fetchone()[0]

    def close(self) -> None:
        with self.lock:
            self.conn.close()
