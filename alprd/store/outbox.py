"""The durable outbox: every record for HQ waits here, sealed, until HQ acknowledges its id.

A record and the data it describes are written in one transaction (see reads.py), so a
power cut leaves both or neither. Rows are deleted only on HQ's acknowledgement.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from alprd.store.crypto import TamperError
from alprd.store.db import Database, StoreError

log = logging.getLogger(__name__)

PRIORITY = {
    "breach": 0,
    "report": 0,
    "hit": 1,
    "disposition": 1,
    "read": 2,
    "ticket": 2,
    "audit": 2,
    "selftest": 2,
    "image": 3,
}


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    id: str
    kind: str
    body: dict[str, Any]


class OutboxStore(Database):
    """The store's role toward HQ: records queued (sealed) until HQ acknowledges them. The
    uplink sees it as alprd.uplink.outbox.Outbox."""

    def enqueue(self, record_id: str, kind: str, body: dict[str, Any]) -> None:
        """Add a record for HQ; call inside transaction(), with what it describes."""
        self.db.conn.execute(
            "INSERT INTO outbox (id, kind, priority, body) VALUES (?,?,?,?)",
            (
                record_id,
                kind,
                PRIORITY[kind],
                self.sealer.seal(json.dumps(body).encode(), f"outbox/{record_id}"),
            ),
        )

    def pending(self, limit: int, exclude: Collection[str] = frozenset()) -> list[OutboxItem]:
        """Unacknowledged records, most urgent first."""
        with self.lock:
            rows = self.db.conn.execute(
                "SELECT seq, id, kind, body FROM outbox ORDER BY priority, seq LIMIT ?",
                (limit + len(exclude),),
            ).fetchall()
        out: list[OutboxItem] = []
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

    def acknowledge(self, ids: list[str]) -> int:
        """HQ has these records: drop them from the outbox. Returns how many were pending."""
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with self.transaction() as conn:
            n = conn.execute(f"DELETE FROM outbox WHERE id IN ({marks})", ids).rowcount
            conn.execute(f"UPDATE reads SET uplinked=1 WHERE id IN ({marks})", ids)
            conn.execute(f"UPDATE audit SET uplinked=1 WHERE id IN ({marks})", ids)
        return int(n)

    def queue(self, kind: str, body: dict[str, Any]) -> None:
        """Queue a record other than a read (a ticket, a report) for HQ, durably."""
        try:
            with self.transaction():
                self.enqueue(body["id"], kind, body)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot queue {kind} {body['id']}: {exc}") from exc

    def outbox_depth(self) -> int:
        with self.lock:
            return int(self.db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def report_breach(self, reason: str) -> str:
        """Queue a breach report for HQ (POL-14); BreachReports (store/breach.py) makes it."""
        raise NotImplementedError
