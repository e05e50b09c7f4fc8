"""Breach reports (POL-14): what happened, and how many reads and distinct plates are in the
data at risk, queued for HQ ahead of everything else."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from datetime import datetime, timezone

from alprd.store.outbox import OutboxStore

log = logging.getLogger(__name__)


class BreachReports(OutboxStore):
    """The store's role when its data may be at risk: a record that failed authentication
    (outbox.py), a broken audit chain, an unknown certificate at HQ (the uplink)."""

    def distinct_plates(self) -> int:
        """How many different plates the stored reads hold (POL-14), without decrypting."""
        with self.lock:
            return int(
                self.db.conn.execute("SELECT count(DISTINCT text_hmac) FROM reads").fetchone()[0]
            )

    def report_breach(self, reason: str) -> str:
        """Queue a top-priority breach report for HQ (POL-14): what happened and how many
        distinct plates are in the data at risk. Returns the report's id."""
        rid = str(uuid.uuid4())
        body = {
            "id": rid,
            "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "reason": reason,
            "reads_at_risk": self.count("reads"),
            "distinct_plates_at_risk": self.distinct_plates(),
            "tampered_records": sorted(self.tampered),
        }
        try:
            with self.transaction():
                self.enqueue(rid, "breach", body)
        except sqlite3.Error as exc:
            log.error("store: cannot queue the breach report (%s): %s", reason, exc)
            return rid
        log.critical(
            "breach report queued for HQ: %s; %d distinct plates at risk",
            reason,
            body["distinct_plates_at_risk"],
        )
        return rid
