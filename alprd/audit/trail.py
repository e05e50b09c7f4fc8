"""The access audit trail (POL-17, POL-18): append-only, hash-chained, sealed, uplinked.

Each record holds the date and time, the username and role, the action, the authorised purpose,
the plate or other data elements queried, the result count and a detail, plus the hash of the
record before it: `hash = SHA-256(prev_hash || canonical JSON of the record)`. The queried data
and the detail are sealed at rest (AES-256-GCM). Two sealed anchors, `base` (the last record
purged after HQ acknowledged it) and `head` (the newest record), make a deletion at either end
as visible as an edit or a reordering in the middle. The record and its outbox copy are written
in one transaction; a record is purged on the vehicle only after HQ has acknowledged it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from alprd.clock import iso
from alprd.protocol import PURPOSES
from alprd.store import Store, StoreError
from alprd.store.crypto import TamperError

log = logging.getLogger(__name__)

GENESIS = "0" * 64

# The six authorised purposes of the department's policy (POL-02), as a fixed list.


class AuditError(Exception):
    """The audit chain is broken; the message names the first record that is wrong."""


@dataclass(frozen=True)
class Verified:
    records: int
    first_seq: int
    last_seq: int
    head_hash: str


def _digest(prev_hash: str, rec: dict[str, Any]) -> str:
    canon = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev_hash + canon).encode()).hexdigest()


def now_utc() -> str:
    return iso(datetime.now(timezone.utc))


class AuditLog:
    """Appends to and verifies the audit table of a Store."""

    def __init__(self, store: Store, unit_id: str = "") -> None:
        self.store = store
        self.unit_id = unit_id

    # -- writing -------------------------------------------------------------------------
    def append(
        self,
        username: str,
        role: str,
        action: str,
        *,
        purpose: str | None = None,
        query: dict[str, Any] | None = None,
        result_count: int | None = None,
        detail: dict[str, Any] | None = None,
        utc: str | None = None,
    ) -> dict[str, Any]:
        """Append one record (and queue it for HQ) in one transaction; returns the record.

        Raises StoreError when it cannot be written: the caller must then refuse the access
        it was about to allow (no access without its record)."""
        try:
            with self.store.transaction() as conn:
                return self.append_in(
                    conn,
                    username,
                    role,
                    action,
                    purpose=purpose,
                    query=query,
                    result_count=result_count,
                    detail=detail,
                    utc=utc,
                )
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot write the audit record for {action} by {username}: {exc}"
            ) from exc

    def append_in(
        self,
        conn: sqlite3.Connection,
        username: str,
        role: str,
        action: str,
        *,
        purpose: str | None = None,
        query: dict[str, Any] | None = None,
        result_count: int | None = None,
        detail: dict[str, Any] | None = None,
        utc: str | None = None,
    ) -> dict[str, Any]:
        """As append, inside the caller's open store transaction (the record commits or
        rolls back with what it records)."""
        if purpose is not None and purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {purpose!r}")
        seal = self.store.sealer.seal
        seq, prev = self._head(conn)
        rid = str(uuid.uuid4())
        rec: dict[str, Any] = {
            "seq": seq + 1,
            "id": rid,
            "utc": utc or now_utc(),
            "username": username,
            "role": role,
            "action": action,
            "purpose": purpose,
            "query": query or {},
            "result_count": result_count,
            "detail": detail or {},
            "prev_hash": prev,
        }
        digest = rec["hash"] = _digest(prev, {k: v for k, v in rec.items() if k != "prev_hash"})
        aad = f"audit/{rid}"
        conn.execute(
            "INSERT INTO audit (seq, id, utc, username, role, action, purpose, query, "
            "result_count, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rec["seq"],
                rec["id"],
                rec["utc"],
                username,
                role,
                action,
                purpose,
                seal(json.dumps(rec["query"]).encode(), aad + "/query"),
                result_count,
                seal(json.dumps(rec["detail"]).encode(), aad + "/detail"),
                prev,
                rec["hash"],
            ),
        )
        self._set_anchor(conn, "head", seq + 1, digest)
        self.store.enqueue(rid, "audit", {**rec, "unit_id": self.unit_id})
        return rec

    def _head(self, conn: sqlite3.Connection) -> tuple[int, str]:
        row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        if row:
            return row[0], row[1]
        base = self._anchor(conn, "base")
        return base if base else (0, GENESIS)

    def _set_anchor(self, conn: sqlite3.Connection, name: str, seq: int, digest: str) -> None:
        sealed = self.store.sealer.seal(json.dumps([seq, digest]).encode(), f"anchor/{name}")
        conn.execute(
            "INSERT INTO anchors (name, sealed) VALUES (?, ?) ON CONFLICT(name) "
            "DO UPDATE SET sealed = excluded.sealed",
            (name, sealed),
        )

    def _anchor(self, conn: sqlite3.Connection, name: str) -> tuple[int, str] | None:
        row = conn.execute("SELECT sealed FROM anchors WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        seq, digest = json.loads(self.store.sealer.open(row[0], f"anchor/{name}"))
        return int(seq), str(digest)

    def purge_acknowledged(self, before_utc: str) -> int:
        """Drop the oldest records HQ has acknowledged, captured before before_utc, moving the
        base anchor past them. Stops at the first unacknowledged record."""
        with self.store.transaction() as conn:
            rows = conn.execute(
                "SELECT seq, hash, uplinked, utc FROM audit ORDER BY seq"
            ).fetchall()
            last = None
            for seq, digest, uplinked, utc in rows:
                if not uplinked or utc >= before_utc:
                    break
                last = (seq, digest)
            if last is None:
                return 0
            n = conn.execute("DELETE FROM audit WHERE seq <= ?", (last[0],)).rowcount
            self._set_anchor(conn, "base", *last)
        return n

    # -- reading -------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """Every record, opened, oldest first (TamperError when a sealed field fails)."""
        with self.store.lock:
            rows = self.store.db.conn.execute(
                "SELECT seq, id, utc, username, role, action, purpose, query, result_count, "
                "detail, prev_hash, hash FROM audit ORDER BY seq"
            ).fetchall()
        out = []
        for seq, rid, utc, user, role, action, purpose, query, count, detail, prev, digest in rows:
            aad = f"audit/{rid}"
            out.append(
                {
                    "seq": seq,
                    "id": rid,
                    "utc": utc,
                    "username": user,
                    "role": role,
                    "action": action,
                    "purpose": purpose,
                    "query": json.loads(self.store.sealer.open(query, aad + "/query")),
                    "result_count": count,
                    "detail": json.loads(self.store.sealer.open(detail, aad + "/detail")),
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
        return out

    def verify(self) -> Verified:
        """Check the whole chain; AuditError naming the first bad record, else a summary."""
        conn = self.store.db.conn
        try:
            with self.store.lock:
                base = self._anchor(conn, "base") or (0, GENESIS)
                head = self._anchor(conn, "head")
            records = self.records()
        except TamperError as exc:
            raise AuditError(f"a sealed audit value failed authentication: {exc}") from exc
        seq, prev = base
        for rec in records:
            if rec["seq"] != seq + 1:
                raise AuditError(
                    f"record {seq + 1} is missing (next is {rec['seq']}): deleted or reordered"
                )
            if rec["prev_hash"] != prev:
                raise AuditError(
                    f"record {rec['seq']} does not chain to record {seq}: "
                    "a record was deleted, inserted or reordered"
                )
            body = {k: v for k, v in rec.items() if k not in ("prev_hash", "hash")}
            if _digest(prev, body) != rec["hash"]:
                raise AuditError(
                    f"record {rec['seq']} ({rec['action']} by "
                    f"{rec['username']}) was altered: its hash does not match"
                )
            seq, prev = rec["seq"], rec["hash"]
        if records and head is None:
            raise AuditError("the head anchor is missing")
        if head is not None and head != (seq, prev):
            raise AuditError(
                f"the chain ends at record {seq} but the head anchor says "
                f"{head[0]}: records were deleted from the end"
            )
        return Verified(len(records), records[0]["seq"] if records else 0, seq, prev)

    def report(self, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        """Accesses by user, purpose, action and plate queried in a period (POL-18)."""
        recs = [
            r
            for r in self.records()
            if (since is None or r["utc"] >= since) and (until is None or r["utc"] < until)
        ]
        plates = Counter(r["query"].get("plate") for r in recs if r["query"].get("plate"))
        return {
            "period": {
                "since": since,
                "until": until,
                "first": recs[0]["utc"] if recs else None,
                "last": recs[-1]["utc"] if recs else None,
            },
            "records": len(recs),
            "by_user": dict(Counter(r["username"] for r in recs).most_common()),
            "by_purpose": dict(Counter(r["purpose"] or "-" for r in recs).most_common()),
            "by_action": dict(Counter(r["action"] for r in recs).most_common()),
            "plates_queried": dict(plates.most_common()),
            "accesses": [
                {
                    k: r[k]
                    for k in (
                        "utc",
                        "username",
                        "role",
                        "action",
                        "purpose",
                        "query",
                        "result_count",
                    )
                }
                for r in recs
                if r["purpose"]
            ],
        }


def format_report(rep: dict[str, Any]) -> str:
    p = rep["period"]
    lines = [
        f"Audit report: {rep['records']} record(s), "
        f"{p['since'] or p['first'] or '-'} to {p['until'] or p['last'] or '-'}"
    ]
    for title, key in (
        ("By user", "by_user"),
        ("By purpose", "by_purpose"),
        ("By action", "by_action"),
        ("Plates queried", "plates_queried"),
    ):
        lines.append(f"\n{title}:")
        lines += [f"  {k:<28} {v}" for k, v in rep[key].items()] or ["  (none)"]
    lines.append("\nAccesses to stored data:")
    for a in rep["accesses"]:
        q = ", ".join(f"{k}={v}" for k, v in a["query"].items()) or "-"
        lines.append(
            f"  {a['utc']}  {a['username']:<10} {a['action']:<12} "
            f"{a['purpose']:<22} {q}  -> {a['result_count']}"
        )
    if not rep["accesses"]:
        lines.append("  (none)")
    return "\n".join(lines)
