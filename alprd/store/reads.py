"""Reads, hits and the officer's dispositions in the vehicle's store; retention's purge.

Sealed (AES-256-GCM, POL-13): plate texts, crops, notes, and each read's time and position and
each hit's reason, case number and time (one `meta` per row), so the blind index that links a
plate's reads gives no track. Plates are found by that keyed HMAC without decrypting; time
filters and retention open `meta` (rows are kept in capture order, newest last).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from alprd.clock import parse
from alprd.protocol import hit_body, read_body
from alprd.store.crypto import TamperError
from alprd.store.db import StoreError, open_meta, seal_meta
from alprd.store.outbox import OutboxStore
from alprd.types import READ_FIELDS, Hit, HotlistEntry, Read, read_fields, read_from_fields

PAGE = 500  # rows opened at a time when a time filter must look inside them
# a read's fields (alprd.types.READ_FIELDS) sealed together in the row's `meta`, not in their
# own columns (those stay empty): a stolen card gives no movement track per plate
READ_META = ("utc", "lat", "lon", "state_confidence")
READ_COLUMNS = ", ".join([*(f for f in READ_FIELDS if f not in READ_META), "crop", "meta"])


class ReadStore(OutboxStore):
    """The store's role for the car: reads, hits and dispositions (each with its outbox
    record, in one transaction), searches, the retention purge."""

    def add_read(self, read: Read, hits: Sequence[Hit] = ()) -> None:
        """Store a read, its hits and their outbox records in one transaction."""
        self.add_reads([(read, hits)])

    def add_reads(self, items: Sequence[tuple[Read, Sequence[Hit]]]) -> None:
        """Store several reads with their hits in one transaction (all or none)."""
        try:
            with self.transaction():
                for read, hits in items:
                    self._insert(read, hits)
        except (sqlite3.Error, OverflowError, ValueError) as exc:  # a number beyond 64 bits
            first = items[0][0].id if items else "-"
            raise StoreError(
                f"cannot store read {first}"
                f"{f' and {len(items) - 1} more' if len(items) > 1 else ''}: "
                f"{exc}"
            ) from exc

    def _insert(self, read: Read, hits: Sequence[Hit]) -> None:
        conn = self.db.conn
        seal = self.sealer.seal
        row = read_fields(read)  # the row: a column per field, the sealed ones in `meta`
        meta = {k: row.pop(k) for k in READ_META}
        row.update(
            text=seal(read.text.encode(), f"reads/{read.id}/text"),
            char_confidences=json.dumps(row["char_confidences"]),
            bbox=json.dumps(row["bbox"]),
            utc="",
            lat=None,
            lon=None,
            crop=seal(read.crop_jpeg, f"reads/{read.id}/crop"),
            text_hmac=self.sealer.plate_index(read.text),
            meta=seal_meta(self.sealer, "reads", read.id, meta),
        )
        conn.execute(
            f"INSERT INTO reads ({', '.join(row)}) VALUES ({','.join('?' * len(row))})",
            tuple(row.values()),
        )
        self.enqueue(read.id, "read", read_body(read))
        for h in hits:
            e = h.entry
            conn.execute(
                "INSERT INTO hits (id, read_id, plate, state, list_type, reason, "
                "priority, case_number, rule, utc, differs, state_rule, meta) "
                "VALUES (?,?,?,?,?,'',?,NULL,?,'',?,?,?)",
                (
                    h.id,
                    h.read_id,
                    seal(e.plate.encode(), f"hits/{h.id}/plate"),
                    e.state,
                    e.list_type,
                    e.priority,
                    h.rule,
                    json.dumps(h.differs),
                    h.state_rule,
                    seal_meta(
                        self.sealer,
                        "hits",
                        h.id,
                        {
                            "reason": e.reason,
                            "case_number": e.case_number,
                            "utc": h.utc,
                            "candidate": h.candidate,
                            "candidate_probability": h.candidate_probability,
                        },
                    ),
                ),
            )
            self.enqueue(h.id, "hit", hit_body(h, read.unit_id))

    def reads(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest reads, opened (for the page, searches and tests)."""
        return self._reads("", (), limit)

    def read(self, read_id: str) -> dict[str, Any] | None:
        """One read, opened, with its hits; None when there is no such read."""
        found = self._reads("WHERE id = ?", (read_id,), 1)
        return found[0] if found else None

    def search(
        self,
        plate: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Reads by exact plate (blind index, no decryption) and capture period, newest first."""
        where, args = (
            ("WHERE text_hmac = ?", (self.sealer.plate_index(plate),)) if plate else ("", ())
        )
        lo, hi = parse(since), parse(until)
        if (since and lo is None) or (until and hi is None):
            raise ValueError(f"not an ISO 8601 time: {since if lo is None else until!r}")

        def in_period(r: dict[str, Any]) -> bool:
            t = parse(r["utc"])
            return t is not None and (lo is None or t >= lo) and (hi is None or t < hi)

        def before_period(r: dict[str, Any]) -> bool:
            t = parse(r["utc"])
            return lo is not None and t is not None and t < lo

        return self._reads(where, args, limit, in_period if lo or hi else None, before_period)

    def _reads(
        self,
        where: str,
        args: tuple[Any, ...],
        limit: int,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        past: Callable[[dict[str, Any]], bool] = lambda r: False,
    ) -> list[dict[str, Any]]:
        """Rows newest first, opened; with keep (a filter on opened rows), pages through
        until limit rows pass it, or a whole page is past (older than) the period: rows are
        stored in capture order."""
        out: list[dict[str, Any]] = []
        before = None
        while len(out) < limit:
            page_where = where
            page_args = args
            if before is not None:
                page_where = f"{where} AND rowid < ?" if where else "WHERE rowid < ?"
                page_args = (*args, before)
            n = limit if keep is None else PAGE
            with self.lock:
                cur = self.db.conn.execute(
                    f"SELECT rowid, {READ_COLUMNS} FROM reads {page_where} "
                    "ORDER BY rowid DESC LIMIT ?",
                    (*page_args, n),
                )
                cols = [c[0] for c in cur.description]
                rows = cur.fetchall()
            opened = [self._open_read(dict(zip(cols, row))) for row in rows]
            out += [r for r in opened if keep is None or keep(r)]
            if keep is None or len(rows) < n or all(map(past, opened)):
                break
            before = rows[-1][0]
        return out[:limit]

    def _open_read(self, r: dict[str, Any]) -> dict[str, Any]:
        rid = r["id"]
        r.pop("rowid", None)
        r["text"] = self.sealer.open(r["text"], f"reads/{rid}/text").decode()
        r["crop"] = self.sealer.open(r["crop"], f"reads/{rid}/crop")
        r.update(
            {
                "state_confidence": None,  # reads stored before #33 have none
                **open_meta(self.sealer, "reads", rid, r.pop("meta")),
            }
        )
        r["bbox"] = json.loads(r["bbox"])
        r["char_confidences"] = json.loads(r["char_confidences"])
        return r

    def add_disposition(
        self,
        body: dict[str, Any],
        report: dict[str, Any] | None = None,
        also: Callable[[sqlite3.Connection], object] | None = None,
    ) -> None:
        """A verify step or disposition on a hit (docs/protocol.md: disposition.v1), queued
        for HQ; with report, a priority report written in the same transaction, and with
        also (a function of the open connection, such as the audit record of the step),
        that too: all of it is stored, or none."""
        try:
            with self.transaction() as conn:
                conn.execute(
                    "INSERT INTO dispositions (id, hit_id, utc, username, action, note) "
                    "VALUES (?,?,?,?,?,?)",
                    (
                        body["id"],
                        body["hit_id"],
                        body["utc"],
                        body["username"],
                        body["action"],
                        self.sealer.seal(
                            (body.get("note") or "").encode(), f"dispositions/{body['id']}/note"
                        ),
                    ),
                )
                self.enqueue(body["id"], "disposition", body)
                if report:
                    self.enqueue(report["id"], "report", report)
                if also:
                    also(conn)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot record {body['action']} on hit {body['hit_id']}: {exc}"
            ) from exc

    def dispositions(self, hit_id: str) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.conn.execute(
                "SELECT id, utc, username, action FROM dispositions WHERE hit_id=? "
                "ORDER BY utc, rowid",
                (hit_id,),
            ).fetchall()
        return [dict(zip(("id", "utc", "username", "action"), r)) for r in rows]

    def unclosed_hits(self, since_utc: str, closing: set[str]) -> list[tuple[Read, list[Hit]]]:
        """Hits since since_utc whose alert no disposition in closing has closed (what a
        restart mid-alert must put back on the screen), oldest first, grouped by read: each
        read with its unclosed hits (each hit's steps: dispositions())."""
        marks = ",".join("?" * len(closing))
        since = parse(since_utc)
        with self.lock:
            rows = self.db.conn.execute(
                "SELECT id, read_id, plate, state, list_type, priority, meta, rule, differs, "
                "state_rule FROM hits h WHERE NOT EXISTS (SELECT 1 FROM dispositions d WHERE "
                f"d.hit_id = h.id AND d.action IN ({marks})) ORDER BY rowid",
                sorted(closing),
            ).fetchall()
        hits = []
        for r in rows:
            hit = dict(
                zip(
                    (
                        "id",
                        "read_id",
                        "plate",
                        "state",
                        "list_type",
                        "priority",
                        "meta",
                        "rule",
                        "differs",
                        "state_rule",
                    ),
                    r,
                )
            )
            hit["plate"] = self.sealer.open(hit["plate"], f"hits/{hit['id']}/plate").decode()
            hit.update(open_meta(self.sealer, "hits", hit["id"], hit.pop("meta")))
            t = parse(hit["utc"])
            if since is None or (t is not None and t >= since):
                hits.append(hit)
        hits.sort(key=lambda h: h["utc"])  # ISO stamps of one format: text order is time order
        by_read: dict[str, list[dict[str, Any]]] = {}
        for hit in hits:
            by_read.setdefault(hit["read_id"], []).append(hit)
        out = []
        for read_id, found in by_read.items():
            row = self.read(read_id)
            if row is None:  # purged by retention
                continue
            read = read_from_fields(row, row["crop"])
            out.append((read, [_hit(read, h) for h in found]))
        return out

    def hit_plates(self) -> list[str]:
        with self.lock:
            rows = self.db.conn.execute("SELECT id, plate FROM hits").fetchall()
        return [self.sealer.open(p, f"hits/{i}/plate").decode() for i, p in rows]

    def purge_acknowledged(self, before_utc: str) -> int:
        """Delete reads HQ has acknowledged that were captured before before_utc (ISO),
        with their hits. Unacknowledged reads are never purged here; a read whose sealed
        time does not open is kept (and counted as tampered)."""
        before = parse(before_utc)
        if before is None:
            raise ValueError(f"not an ISO 8601 time: {before_utc!r}")
        with self.lock:
            rows = self.db.conn.execute("SELECT id, meta FROM reads WHERE uplinked=1").fetchall()
        old = []
        for rid, meta in rows:
            try:
                t = parse(open_meta(self.sealer, "reads", rid, meta)["utc"])
            except (TamperError, ValueError, KeyError):
                self.tampered.add(rid)
                continue
            if t is not None and t < before:
                old.append(rid)
        n = 0
        with self.transaction() as conn:
            for i in range(0, len(old), PAGE):
                ids = old[i : i + PAGE]
                marks = ",".join("?" * len(ids))
                conn.execute(
                    f"DELETE FROM hits WHERE read_id IN ({marks}) AND id NOT IN "
                    "(SELECT id FROM outbox)",
                    ids,
                )
                n += conn.execute(
                    f"DELETE FROM reads WHERE id IN ({marks}) AND id NOT IN "
                    "(SELECT read_id FROM hits)",
                    ids,
                ).rowcount
        return n


def _hit(read: Read, h: dict[str, Any]) -> Hit:
    """A stored hit (its row, opened) as the Hit it was; its read's state as it stands."""
    entry = HotlistEntry(
        h["plate"],
        h["state"],
        h["list_type"],
        h.get("reason") or "",
        h["priority"],
        h.get("case_number"),
    )
    return Hit(
        h["id"],
        h["read_id"],
        entry,
        h["rule"],
        h["utc"],
        tuple(json.loads(h["differs"])),
        h["state_rule"],
        read.state,
        read.state_confidence,
        h.get("candidate"),
        h.get("candidate_probability"),
    )
