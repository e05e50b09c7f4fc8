"""POL-09 on HQ's PostgreSQL store: legal holds, and records flagged for logical deletion at
two years and deleted for good at five, a held record untouched (alprd.protocol.retention).
Records live in monthly partitions: a month wholly due is moved aside (its held records kept)
and dropped whole, which frees its space at once."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from alprd.hq.pgschema import next_month, partition_name, scalar
from alprd.protocol import retention

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("alprd.hq.pgrecords")

LOCK_PARTITION = 0x616C7073  # advisory lock ids ("alpr")
LOCK_RETENTION = 0x616C7074


class PgRetention:
    """PgStore's retention role, and the monthly partitions it manages."""

    conn: psycopg.Connection[Any]  # psycopg: imported only where PostgreSQL is used
    lock: threading.Lock
    _months: set[datetime]

    def _live(self) -> None:  # PgStore's: a lost connection opened again
        raise NotImplementedError

    def _load_months(self) -> None:
        with self.lock:
            self._load_months_locked()

    def partitions(self) -> list[str]:
        self._load_months()
        return sorted(partition_name(m) for m in self._months)

    def _ensure_months(self, months: set[datetime]) -> None:
        """Make the month partitions a batch needs (once; workers serialise on a lock)."""
        missing = months - self._months
        if not missing:
            return
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_PARTITION,))
            for m in sorted(missing):
                self.conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(m)} PARTITION OF records "
                    f"FOR VALUES FROM ('{m.isoformat()}') TO ('{next_month(m).isoformat()}')"
                )
        self._months |= missing

    def place_hold(self, ref: str, reason: str, record_ids: list[str], now: datetime) -> None:
        with self.lock, self.conn.transaction():
            self.conn.execute(
                "INSERT INTO holds (ref, reason, placed_utc, reviewed_utc) "
                "VALUES (%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                (ref, reason, now, now),
            )
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO hold_records VALUES (%s,%s) ON CONFLICT DO NOTHING",
                    [(ref, i) for i in record_ids],
                )

    def release_hold(self, ref: str, now: datetime) -> None:
        with self.lock:
            self.conn.execute("UPDATE holds SET released_utc=%s WHERE ref=%s", (now, ref))

    def review_hold(self, ref: str, now: datetime) -> None:
        with self.lock:
            self.conn.execute("UPDATE holds SET reviewed_utc=%s WHERE ref=%s", (now, ref))

    def holds_due_for_review(self, now: datetime) -> list[str]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT ref, reviewed_utc FROM holds WHERE released_utc IS NULL ORDER BY ref"
            ).fetchall()
        return [ref for ref, reviewed in rows if retention.hold_review_due(reviewed) <= now]

    _HELD = (
        "EXISTS (SELECT 1 FROM hold_records h JOIN holds USING (ref) WHERE "
        "h.record_id = {t}.id AND holds.released_utc IS NULL)"
    )

    def apply_retention(self, now: datetime) -> tuple[int, int]:
        """As HqStore.apply_retention, by months: (logical, permanent) counts.

        A month whose every record is past permanent deletion is dropped whole, after its
        held records have moved to held_records. Inside the boundary months, records are
        flagged or deleted one by one, each decided exactly (retention.decide)."""
        logical = permanent = 0
        with self.lock:
            self._live()
        with self.lock, self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_RETENTION,))
            self._load_months_locked()
            for m in sorted(self._months):
                end = next_month(m)
                # the last instant of the month is due: the whole month is
                if retention.permanent_due(end - timedelta(microseconds=1)) > now:
                    continue
                name = partition_name(m)
                self.conn.execute(
                    f"INSERT INTO held_records SELECT * FROM {name} r WHERE "
                    f"{self._HELD.format(t='r')} ON CONFLICT DO NOTHING"
                )
                gone = scalar(
                    self.conn.execute(
                        f"SELECT count(*) FROM {name} r WHERE NOT {self._HELD.format(t='r')}"
                    ).fetchone()
                )
                self.conn.execute(f"ALTER TABLE records DETACH PARTITION {name}")
                self.conn.execute(f"DROP TABLE {name}")
                self._months.discard(m)
                permanent += gone
                log.info("hq: retention: month %s dropped (%d records; held ones kept)", name, gone)
            # one by one, what is past the two-year mark (two days of margin for the
            # calendar), each decided exactly; the time index finds them
            log_cut = retention.add_years(now, -retention.LOGICAL_YEARS) + timedelta(days=2)
            for table in ("records", "held_records"):
                rows = self.conn.execute(
                    f"SELECT unit_id, id, captured_utc, logical_deleted_utc IS NOT NULL, "
                    f"{self._HELD.format(t='r')} FROM {table} r WHERE captured_utc < %s",
                    (log_cut,),
                ).fetchall()
                kill, flag = [], []
                for unit, rid, cap, flagged, held in rows:
                    verdict = retention.decide(cap, now, held)
                    if verdict == "permanent":
                        kill.append((unit, rid))
                    elif verdict == "logical" and not flagged:
                        flag.append((unit, rid))
                with self.conn.cursor() as cur:
                    if flag:
                        cur.executemany(
                            f"UPDATE {table} SET logical_deleted_utc=%s WHERE unit_id=%s AND id=%s",
                            [(now, *k) for k in flag],
                        )
                    if kill:
                        cur.executemany(f"DELETE FROM {table} WHERE unit_id=%s AND id=%s", kill)
                logical += len(flag)
                permanent += len(kill)
        return logical, permanent

    def _load_months_locked(self) -> None:
        """The month partitions that exist (another worker may have made some)."""
        rows = self.conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'records'"
        ).fetchall()
        self._months = {
            datetime(int(n[9:13]), int(n[14:16]), 1, tzinfo=timezone.utc) for (n,) in rows
        }

    # -- searches -------------------------------------------------------------------------
