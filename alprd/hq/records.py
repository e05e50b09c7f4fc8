"""HQ's record store (SQLite, the embedded default): records stored once per (unit, id),
legal holds, retention (POL-09) and searches with their access log (POL-02, POL-10)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alprd.hq.access import AccessRefused, access_row, in_state, refusal
from alprd.hq.keys import load_index_key
from alprd.hq.schema import (
    Batch,
    IndexKeyed,
    batch_health,
    captured,
    check_batch,
    clean_status,
    plate_index,
    refused_body,
)
from alprd.hq.sealing import BodySealer, body_keys_path, load_body_keys
from alprd.hq.sqlretention import SqliteRetention
from alprd.hq.sqlschema import SCHEMA_VERSION, migrate_1, migrate_2, migrate_3

log = logging.getLogger(__name__)


class HqStore(SqliteRetention, IndexKeyed):
    """HQ on one SQLite file: the embedded default (demo, tests, a small agency).
    alprd.hq.pgrecords.PgStore is the same on PostgreSQL."""

    backend = "sqlite"

    def __init__(
        self,
        path: Path,
        index_key: bytes | Callable[[], bytes] | None = None,
        body_keys: BodySealer | Callable[[], BodySealer] | None = None,
    ) -> None:
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
                raise RuntimeError(
                    f"hq: database schema {version} is newer than this alprd ({SCHEMA_VERSION})"
                )
            steps: dict[int, Callable[[sqlite3.Connection], None]] = {
                1: migrate_1,
                2: lambda c: migrate_2(c, self.key),
                3: migrate_3,
            }
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

    def add(
        self, unit: str, records: list[dict[str, Any]], status: dict[str, Any] | None = None
    ) -> list[str]:
        """Store a batch in one transaction: each record whose body passes its schema, once
        per (unit, id); the others go to `refused` with the reason. Returns the refused ids.
        Any error rolls the whole batch back (nothing acknowledged, the car sends it again).
        status: the car's own figures from its up message (hotlist version and age, outbox)."""
        return self.add_many([(unit, records, status)])[0]

    def add_many(self, batches: list[Batch]) -> list[list[str]]:
        """Several up messages in one transaction (one commit); each one's refused ids."""
        now_t = datetime.now(timezone.utc)
        now = now_t.isoformat(timespec="seconds")
        checked = [(unit, *check_batch(unit, records), status) for unit, records, status in batches]
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

    def _add(
        self,
        unit: str,
        good: list[dict[str, Any]],
        bad: list[tuple[dict[str, Any], str]],
        status: dict[str, Any] | None,
        now_t: datetime,
        now: str,
    ) -> None:
        for r, reason in bad:
            self.conn.execute(
                "INSERT OR IGNORE INTO refused (unit_id, id, kind, body, reason, "
                "received_utc) VALUES (?,?,?,?,?,?)",
                (
                    unit,
                    r["id"],
                    r["kind"],
                    self.seal_body(unit, r["id"], refused_body(r)),
                    reason,
                    now,
                ),
            )
        for r in good:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO records (unit_id, id, kind, body, received_utc, "
                "captured_utc, plate_index) VALUES (?,?,?,?,?,?,?)",
                (
                    unit,
                    r["id"],
                    r["kind"],
                    self.seal_body(unit, r["id"], r["body"]),
                    now,
                    # the car's own text, or receipt's where that time cannot be true
                    r["body"]["utc"] if captured(r, now_t) is not now_t else now,
                    plate_index(self.key, r["body"]["text"]) if r["kind"] == "read" else None,
                ),
            )
            self.duplicates += cur.rowcount == 0
        self._seen(unit, now, len(good), batch_health(good, now_t), clean_status(status))

    def _seen(
        self, unit: str, now: str, n: int, health: dict[str, Any], status: dict[str, Any]
    ) -> None:
        self.conn.execute("INSERT INTO units (unit_id) VALUES (?) ON CONFLICT DO NOTHING", (unit,))
        sets, args = ["last_seen_utc=?", "records=records+?"], [now, n]
        if health["lag_s"] is not None:
            sets += ["prev_lag_s=uplink_lag_s", "uplink_lag_s=?"]
            args.append(health["lag_s"])
        if health["last_selftest_utc"]:  # a passing self-test closes the tickets before it
            sets += ["last_selftest_utc=max(coalesce(last_selftest_utc, ''), ?)", "open_tickets=0"]
            args.append(health["last_selftest_utc"])
        if health["tickets"]:
            sets.append("open_tickets=open_tickets+?")
            args.append(health["tickets"])
        for k, v in status.items():
            sets.append(f"{k}=?")
            args.append(v)
        self.conn.execute(f"UPDATE units SET {', '.join(sets)} WHERE unit_id=?", (*args, unit))

    def last_hotlist(self) -> tuple[int, list[dict[str, Any]], bool] | None:
        """(version, entries, published as a snapshot) of the last hotlist published."""
        with self.lock:
            row = self.conn.execute(
                "SELECT version, entries, snapshot FROM hotlist_published"
            ).fetchone()
        return (
            (row[0], self.sealer.open(row[1], "hotlist_published"), bool(row[2])) if row else None
        )

    def save_hotlist(self, version: int, entries: list[dict[str, Any]], snapshot: bool) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO hotlist_published VALUES (1, ?, ?, ?) ON CONFLICT "
                "(one) DO UPDATE SET version=excluded.version, entries="
                "excluded.entries, snapshot=excluded.snapshot",
                (version, self.sealer.seal_text(entries, "hotlist_published"), int(snapshot)),
            )

    def units(self) -> list[dict[str, Any]]:
        """Each car as HQ last heard of it (alprd.hq.fleet adds the flags)."""
        with self.lock:
            cur = self.conn.execute("SELECT * FROM units ORDER BY unit_id")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def refused(self) -> list[dict[str, Any]]:
        """The records refused for breaking their schema, with the reason."""
        with self.lock:
            cur = self.conn.execute(
                "SELECT id, unit_id, kind, reason, received_utc, body "
                "FROM refused ORDER BY received_utc, unit_id, id"
            )
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
                row = self.conn.execute(
                    "SELECT version FROM published WHERE kind=?", (kind,)
                ).fetchone()
                version = max(candidate, (row[0] + 1) if row else 1)
                self.conn.execute(
                    "INSERT INTO published (kind, version) VALUES (?, ?) ON "
                    "CONFLICT(kind) DO UPDATE SET version=excluded.version",
                    (kind, version),
                )
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        return version

    def visible_ids(self, role: str) -> set[str]:
        """Record ids a role may see: data users never see logically deleted records."""
        sql = "SELECT id FROM records"
        if role != "administrator":
            sql += " WHERE logical_deleted_utc IS NULL"
        with self.lock:
            return {r[0] for r in self.conn.execute(sql)}

    def search(
        self,
        username: str,
        role: str,
        purpose: str,
        plate: str,
        include_deleted: bool = False,
        ground: str | None = None,
        request_ref: str | None = None,
        now: datetime | None = None,
        state: str | None = None,
    ) -> list[dict[str, Any]]:
        """Reads of a plate (and state: access.in_state), for data users and administrators,
        with one of the six purposes (POL-02). Logically deleted reads only for an
        administrator, with a listed ground and the Form 15.02.00 reference (POL-10). Every
        search, allowed or refused, is logged."""
        why = refusal(role, purpose, include_deleted, ground, request_ref)
        sql = (
            "SELECT id, unit_id, body, logical_deleted_utc FROM records WHERE kind='read' "
            "AND plate_index = ?"
        )
        if not include_deleted:
            sql += " AND logical_deleted_utc IS NULL"
        with self.lock:
            rows = (
                []
                if why
                else self.conn.execute(
                    sql + " ORDER BY captured_utc DESC", (plate_index(self.key, plate),)
                ).fetchall()
            )
            found = [
                r
                for r in (
                    {"id": i, "unit_id": u, **self.open_body(u, i, b), "logically_deleted_utc": d}
                    for i, u, b, d in rows
                )
                if in_state(r, state)
            ]
            self.conn.execute(
                "INSERT INTO access_log (utc, username, role, action, purpose, query, ground, "
                "request_ref, result_count, refused) VALUES (?,?,?,?,?,?,?,?,?,?)",
                access_row(
                    (now or datetime.now(timezone.utc)).isoformat(),
                    username,
                    role,
                    purpose,
                    plate,
                    include_deleted,
                    ground,
                    request_ref,
                    len(found),
                    why,
                    self.seal_query,
                    state,
                ),
            )
        if why:
            log.warning("hq: search by %s refused: %s", username, why)
            raise AccessRefused(why)
        return found

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        """Every stored body of a kind, opened (for HQ's own tools and tests; searches by
        people go through search(), which the access log records)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT unit_id, id, body FROM records WHERE kind=? ORDER BY captured_utc", (kind,)
            ).fetchall()
        return [self.open_body(u, i, b) for u, i, b in rows]

    def _select(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self.lock:
            return self.conn.execute(sql.replace("%s", "?"), args).fetchall()

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
                return int(
                    self.conn.execute(
                        "SELECT count(*) FROM records WHERE kind=?", (kind,)
                    ).fetchone()[0]
                )
            return int(self.conn.execute("SELECT count(*) FROM records").fetchone()[0])

    def close(self) -> None:
        with self.lock:
            self.conn.close()
