"""HQ's record store on PostgreSQL (psycopg 3): what an agency runs in production
(docs/hq-operations.md). The same interface and behaviour as alprd.hq.records.HqStore.

- records are partitioned by capture month (records_yYYYYmMM), made as records arrive;
- a batch is stored in one transaction with ON CONFLICT DO NOTHING, so any number of ingest
  workers may store the same redelivered batch: once per (unit, id);
- logical deletion at two years is a flag; permanent deletion (five years, 24 hours and one
  minute: POL-09) drops a whole month once every record in it is due, after moving the
  records under a legal hold to held_records; records due inside a month are deleted alone;
- plates are found by their blind index (plate_index), per partition;
- migrations are numbered, applied once, under an advisory lock (many workers start at once).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from alprd.hq.access import AccessRefused, access_row, in_state, refusal
from alprd.hq.pgretention import PgRetention
from alprd.hq.pgschema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SEEN_SQL,
    dict_rows,
    iso_value,
    month_of,
    scalar,
    seen_row,
)
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
from alprd.hq.sealing import BodySealer

log = logging.getLogger(__name__)

_LOCK_MIGRATE = 0x616C7072  # advisory lock ids ("alpr")


class PgStore(PgRetention, IndexKeyed):
    """HQ on PostgreSQL. One connection per store (an ingest worker has its own)."""

    backend = "postgresql"
    SEALED_TABLES = ("records", "held_records", "refused")

    def __init__(
        self,
        url: str,
        index_key: bytes | Callable[[], bytes],
        body_keys: BodySealer | Callable[[], BodySealer],
    ) -> None:
        """index_key: the plate index key, or a () -> key that loads it when first needed;
        body_keys: the body key ring (alprd.hq.sealing), or a () -> one, likewise."""
        import psycopg

        self.psycopg = psycopg
        self.url = url
        self._key, self._sealer = index_key, body_keys
        self.conn = psycopg.connect(url, autocommit=True)
        self.lock = threading.Lock()
        self.duplicates = 0
        self._months: set[datetime] = set()
        self._migrate()
        self._load_months()

    def _live(self) -> None:
        """A connection lost (PostgreSQL restarted, a failover) is opened again: the batch
        that met the break was not acknowledged, and the car sends it again."""
        if self.conn.closed or self.conn.broken:
            log.warning("hq: database connection lost; connecting again")
            self.conn = self.psycopg.connect(self.url, autocommit=True)

    # -- schema ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self.lock, self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_MIGRATE,))
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer "
                "PRIMARY KEY, applied_utc timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in self.conn.execute("SELECT version FROM schema_migrations")}
            if done and max(done) > SCHEMA_VERSION:
                raise RuntimeError(
                    f"hq: database schema {max(done)} is newer than this alprd ({SCHEMA_VERSION})"
                )
            for v in sorted(set(MIGRATIONS) - done):
                for sql in MIGRATIONS[v]:
                    self.conn.execute(sql)
                self.conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (v,))
                log.info("hq: database migrated to schema %d", v)

    def schema_version(self) -> int:
        with self.lock:
            return int(
                scalar(self.conn.execute("SELECT max(version) FROM schema_migrations").fetchone())
            )

    # -- ingest ---------------------------------------------------------------------------
    def add(
        self, unit: str, records: list[dict[str, Any]], status: dict[str, Any] | None = None
    ) -> list[str]:
        """As HqStore.add: one transaction; ON CONFLICT DO NOTHING; refused ids returned."""
        return self.add_many([(unit, records, status)])[0]

    def add_many(self, batches: list[Batch]) -> list[list[str]]:
        """Several up messages in one transaction (one commit, one flush to disk: an ingest
        worker stores what has queued up while the last commit ran). Each batch's refused
        ids, in order. Any error rolls them all back: none is acknowledged."""
        now = datetime.now(timezone.utc)
        rows, bad_rows, seen, refused = [], [], [], []
        for unit, records, status in batches:
            good, bad = check_batch(unit, records)
            for r in good:
                text = r["body"].get("text") if r["kind"] == "read" else None
                rows.append(
                    (
                        unit,
                        r["id"],
                        r["kind"],
                        self.seal_body(unit, r["id"], r["body"]),
                        captured(r, now),
                        plate_index(self.key, text) if isinstance(text, str) else None,
                    )
                )
            bad_rows += [
                (
                    unit,
                    r["id"],
                    r["kind"],
                    self.seal_body(unit, r["id"], refused_body(r)),
                    reason,
                    now,
                )
                for r, reason in bad
            ]
            seen.append(
                seen_row(unit, now, len(good), batch_health(good, now), clean_status(status))
            )
            refused.append([r["id"] for r, _ in bad])
        with self.lock:
            self._live()
            self._ensure_months({month_of(r[4]) for r in rows})
            with self.conn.transaction():
                cur = self.conn.cursor()
                if bad_rows:
                    cur.executemany(
                        "INSERT INTO refused (unit_id, id, kind, body, reason, "
                        "received_utc) VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT DO "
                        "NOTHING",
                        bad_rows,
                    )
                if rows:
                    units, ids, kinds, bodies, caps, plates = map(list, zip(*rows))
                    cur.execute(
                        "INSERT INTO records (unit_id, id, kind, body, captured_utc, "
                        "received_utc, plate_index) SELECT u, i, k, b::jsonb, c, %s, p FROM "
                        "unnest(%b::text[], %b::text[], %b::text[], %b::text[], "
                        "%b::timestamptz[], %b::bytea[]) AS t(u, i, k, b, c, p) "
                        "ON CONFLICT DO NOTHING",
                        # arrays sent in binary: no escaping of every quote in every body
                        (now, units, ids, kinds, bodies, caps, plates),
                    )
                    self.duplicates += len(rows) - cur.rowcount
                cur.execute(
                    "INSERT INTO units (unit_id) SELECT unnest(%b::text[]) ON CONFLICT DO NOTHING",
                    (sorted({s["unit"] for s in seen}),),
                )
                cur.executemany(SEEN_SQL, seen)
        return refused

    def last_hotlist(self) -> tuple[int, list[dict[str, Any]], bool] | None:
        with self.lock:
            row = self.conn.execute(
                "SELECT version, entries, snapshot FROM hotlist_published"
            ).fetchone()
        return (
            (int(row[0]), self.sealer.open(row[1], "hotlist_published"), bool(row[2]))
            if row
            else None
        )

    def save_hotlist(self, version: int, entries: list[dict[str, Any]], snapshot: bool) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO hotlist_published VALUES (1, %s, %s, %s) ON "
                "CONFLICT (one) DO UPDATE SET version=excluded.version, "
                "entries=excluded.entries, snapshot=excluded.snapshot",
                (version, self.sealer.seal_text(entries, "hotlist_published"), snapshot),
            )

    def units(self) -> list[dict[str, Any]]:
        with self.lock:
            return dict_rows(self.conn.execute("SELECT * FROM units ORDER BY unit_id"))

    def refused(self) -> list[dict[str, Any]]:
        with self.lock:
            cur = self.conn.execute(
                "SELECT id, unit_id, kind, reason, received_utc, body "
                "FROM refused ORDER BY received_utc, unit_id, id"
            )
            rows = dict_rows(cur)
        return [{**r, "body": self.open_body(r["unit_id"], r["id"], r["body"])} for r in rows]

    def next_version(self, kind: str, candidate: int) -> int:
        """As HqStore.next_version: never below the last one published, kept in the database
        under a row lock (any number of HQ processes)."""
        with self.lock, self.conn.transaction():
            row = self.conn.execute(
                "INSERT INTO published (kind, version) VALUES (%s, %s) ON CONFLICT (kind) DO "
                "UPDATE SET version = greatest(excluded.version, published.version + 1) "
                "RETURNING version",
                (kind, candidate),
            ).fetchone()
        return int(scalar(row))

    def visible_ids(self, role: str) -> set[str]:
        where = "" if role == "administrator" else " WHERE logical_deleted_utc IS NULL"
        with self.lock:
            return {
                r[0]
                for r in self.conn.execute(
                    f"SELECT id FROM records{where} UNION ALL SELECT id FROM held_records{where}"
                )
            }

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
        """As HqStore.search (POL-02, POL-10): by the plate's blind index (and state),
        newest first."""
        why = refusal(role, purpose, include_deleted, ground, request_ref)
        cond = "kind='read' AND plate_index = %(p)s"
        if not include_deleted:
            cond += " AND logical_deleted_utc IS NULL"
        sql = (
            f"SELECT id, unit_id, body, logical_deleted_utc, captured_utc FROM records "
            f"WHERE {cond} UNION ALL SELECT id, unit_id, body, logical_deleted_utc, "
            f"captured_utc FROM held_records WHERE {cond} ORDER BY captured_utc DESC"
        )
        with self.lock:
            self._live()
        with self.lock, self.conn.transaction():
            rows = (
                []
                if why
                else self.conn.execute(sql, {"p": plate_index(self.key, plate)}).fetchall()
            )
            found = [
                r
                for r in (
                    {
                        "id": i,
                        "unit_id": u,
                        **self.open_body(u, i, b),
                        "logically_deleted_utc": iso_value(d),
                    }
                    for i, u, b, d, _ in rows
                )
                if in_state(r, state)
            ]
            self.conn.execute(
                "INSERT INTO access_log (utc, username, role, action, purpose, query, ground, "
                "request_ref, result_count, refused) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                access_row(
                    now or datetime.now(timezone.utc),
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
        """As HqStore.bodies: every stored body of a kind, opened (HQ's tools, tests)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT unit_id, id, body, captured_utc FROM records WHERE kind=%(k)s UNION ALL "
                "SELECT unit_id, id, body, captured_utc FROM held_records WHERE kind=%(k)s "
                "ORDER BY captured_utc",
                {"k": kind},
            ).fetchall()
        return [self.open_body(u, i, b) for u, i, b, _ in rows]

    def _select(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def _update(self, sql: str, rows: list[Any]) -> None:
        with self.lock, self.conn.transaction():
            self.conn.cursor().executemany(sql, rows)

    def access_log(self) -> list[dict[str, Any]]:
        with self.lock:
            return self.opened_log(
                dict_rows(self.conn.execute("SELECT * FROM access_log ORDER BY seq"))
            )

    def count(self, kind: str | None = None) -> int:
        where, args = (" WHERE kind=%s", (kind, kind)) if kind else ("", ())
        with self.lock:
            return int(
                scalar(
                    self.conn.execute(
                        f"SELECT (SELECT count(*) FROM records{where}) + "
                        f"(SELECT count(*) FROM held_records{where})",
                        args,
                    ).fetchone()
                )
            )

    def close(self) -> None:
        with self.lock:
            self.conn.close()
