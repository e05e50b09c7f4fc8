"""POL-09 on HQ's SQLite store: legal holds, and records flagged for logical deletion at two
years and deleted for good at five, a held record untouched (alprd.protocol.retention)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta

from alprd.protocol import retention


class SqliteRetention:
    """HqStore's retention role (its connection and lock)."""

    conn: sqlite3.Connection
    lock: threading.Lock

    def place_hold(self, ref: str, reason: str, record_ids: list[str], now: datetime) -> None:
        """A legal hold by DR or case number on these records, until released."""
        t = now.isoformat()
        with self.lock:
            self.conn.execute("BEGIN")
            self.conn.execute(
                "INSERT OR IGNORE INTO holds (ref, reason, placed_utc, "
                "reviewed_utc) VALUES (?,?,?,?)",
                (ref, reason, t, t),
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO hold_records VALUES (?,?)", [(ref, i) for i in record_ids]
            )
            self.conn.execute("COMMIT")

    def release_hold(self, ref: str, now: datetime) -> None:
        with self.lock:
            self.conn.execute("UPDATE holds SET released_utc=? WHERE ref=?", (now.isoformat(), ref))

    def review_hold(self, ref: str, now: datetime) -> None:
        with self.lock:
            self.conn.execute("UPDATE holds SET reviewed_utc=? WHERE ref=?", (now.isoformat(), ref))

    def holds_due_for_review(self, now: datetime) -> list[str]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT ref, reviewed_utc FROM holds WHERE released_utc IS NULL"
            ).fetchall()
        return [
            ref
            for ref, reviewed in rows
            if retention.hold_review_due(retention.parse_utc(reviewed)) <= now
        ]

    def apply_retention(self, now: datetime) -> tuple[int, int]:
        """Flag records due for logical deletion, delete those due for permanent deletion
        (crops are inside the record); held records are untouched. (logical, permanent).
        Only records captured before the two-year mark (and two days of margin, for odd
        time zones) are looked at, by the time index; each is then decided exactly."""
        margin = (retention.add_years(now, -retention.LOGICAL_YEARS) + timedelta(days=2)).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
        with self.lock:
            rows = self.conn.execute(
                "SELECT r.unit_id, r.id, r.captured_utc, r.logical_deleted_utc, EXISTS ("
                "SELECT 1 FROM hold_records h JOIN holds USING (ref) WHERE h.record_id = r.id "
                "AND holds.released_utc IS NULL) FROM records r WHERE r.captured_utc < ?",
                (margin,),
            ).fetchall()
            logical, permanent = [], []
            for unit, rid, captured, flagged, held in rows:
                verdict = retention.decide(retention.parse_utc(captured), now, bool(held))
                if verdict == "permanent":
                    permanent.append((unit, rid))
                elif verdict == "logical" and not flagged:
                    logical.append((now.isoformat(), unit, rid))
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "UPDATE records SET logical_deleted_utc=? WHERE unit_id=? AND id=?", logical
            )
            self.conn.executemany("DELETE FROM records WHERE unit_id=? AND id=?", permanent)
            self.conn.executemany(
                "DELETE FROM hold_records WHERE record_id=? AND NOT EXISTS (SELECT 1 FROM "
                "records WHERE id=?)",
                [(rid, rid) for _, rid in permanent],
            )
            self.conn.execute("COMMIT")
        return len(logical), len(permanent)
