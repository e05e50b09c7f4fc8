"""Reads, hits and the officer's dispositions in the vehicle's store; retention's purge.

Sealed (AES-256-GCM, POL-13): plate texts, crops, notes, and each read's time and position and
each hit's reason, case number and time (one `meta` per row), so the blind index that links a
plate's reads gives no track. Plates are found by that keyed HMAC without decrypting; time
filters and retention open `meta` (rows are kept in capture order, newest last).
"""
from __future__ import annotations

import json
import sqlite3

from alprd.clock import parse
from alprd.protocol import hit_body, read_body
from alprd.store.crypto import TamperError
from alprd.store.db import StoreError, open_meta, seal_meta
from alprd.types import Hit, Read

PAGE = 500  # rows opened at a time when a time filter must look inside them


class ReadsMixin:
    """The reads part of Store (needs Database and OutboxMixin)."""

    def add_read(self, read: Read, hits: list[Hit] = ()) -> None:
        """Store a read, its hits and their outbox records in one transaction."""
        self.add_reads([(read, hits)])

    def add_reads(self, items: list[tuple[Read, list[Hit]]]) -> None:
        """Store several reads with their hits in one transaction (all or none)."""
        try:
            with self.transaction():
                for read, hits in items:
                    self._insert(read, hits)
        except (sqlite3.Error, OverflowError, ValueError) as exc:  # a number beyond 64 bits
            first = items[0][0].id if items else "-"
            raise StoreError(f"cannot store read {first}"
                             f"{f' and {len(items) - 1} more' if len(items) > 1 else ''}: "
                             f"{exc}") from exc

    def _insert(self, read: Read, hits: list[Hit]) -> None:
        conn = self.db.conn
        seal = self.sealer.seal
        conn.execute(
            "INSERT INTO reads (id, text, confidence, char_confidences, state, utc, "
            "time_source, camera_id, unit_id, lat, lon, fix_quality, crop, bbox, frames, "
            "text_hmac, meta) VALUES (?,?,?,?,?,'',?,?,?,NULL,NULL,?,?,?,?,?,?)",
            (read.id, seal(read.text.encode(), f"reads/{read.id}/text"), read.confidence,
             json.dumps(read.char_confidences), read.state, read.time_source,
             read.camera_id, read.unit_id, read.fix_quality,
             seal(read.crop_jpeg, f"reads/{read.id}/crop"), json.dumps(read.bbox),
             read.frames, self.sealer.plate_index(read.text),
             seal_meta(self.sealer, "reads", read.id,
                       {"utc": read.utc, "lat": read.lat, "lon": read.lon,
                        "state_confidence": read.state_confidence})))
        self.enqueue(read.id, "read", read_body(read))
        for h in hits:
            e = h.entry
            conn.execute(
                "INSERT INTO hits (id, read_id, plate, state, list_type, reason, "
                "priority, case_number, rule, utc, differs, state_rule, meta) "
                "VALUES (?,?,?,?,?,'',?,NULL,?,'',?,?,?)",
                (h.id, h.read_id, seal(e.plate.encode(), f"hits/{h.id}/plate"), e.state,
                 e.list_type, e.priority, h.rule, json.dumps(h.differs), h.state_rule,
                 seal_meta(self.sealer, "hits", h.id, {
                     "reason": e.reason, "case_number": e.case_number, "utc": h.utc,
                     "candidate": h.candidate,
                     "candidate_probability": h.candidate_probability})))
            self.enqueue(h.id, "hit", hit_body(h, read.unit_id))

    def reads(self, limit: int = 100) -> list[dict]:
        """The newest reads, opened (for the page, searches and tests)."""
        return self._reads("", (), limit)

    def read(self, read_id: str) -> dict | None:
        """One read, opened, with its hits; None when there is no such read."""
        found = self._reads("WHERE id = ?", (read_id,), 1)
        return found[0] if found else None

    def search(self, plate: str | None = None, since: str | None = None,
               until: str | None = None, limit: int = 200) -> list[dict]:
        """Reads by exact plate (blind index, no decryption) and capture period, newest first."""
        where, args = ("WHERE text_hmac = ?", (self.sealer.plate_index(plate),)) if plate \
            else ("", ())
        lo, hi = parse(since), parse(until)
        if (since and lo is None) or (until and hi is None):
            raise ValueError(f"not an ISO 8601 time: {since if lo is None else until!r}")
        def in_period(r) -> bool:
            t = parse(r["utc"])
            return t is not None and (lo is None or t >= lo) and (hi is None or t < hi)

        def before_period(r) -> bool:
            t = parse(r["utc"])
            return lo is not None and t is not None and t < lo
        return self._reads(where, args, limit, in_period if lo or hi else None, before_period)

    def _reads(self, where: str, args: tuple, limit: int, keep=None,
               past=lambda r: False) -> list[dict]:
        """Rows newest first, opened; with keep (a filter on opened rows), pages through
        until limit rows pass it, or a whole page is past (older than) the period: rows are
        stored in capture order."""
        out: list[dict] = []
        before = None
        while len(out) < limit:
            page_where = where
            page_args = args
            if before is not None:
                page_where = (f"{where} AND rowid < ?" if where else "WHERE rowid < ?")
                page_args = (*args, before)
            n = limit if keep is None else PAGE
            with self.lock:
                cur = self.db.conn.execute(
                    "SELECT rowid, id, text, confidence, state, meta, time_source, camera_id, "
                    f"unit_id, fix_quality, crop, bbox, frames FROM reads {page_where} "
                    "ORDER BY rowid DESC LIMIT ?", (*page_args, n))
                cols = [c[0] for c in cur.description]
                rows = cur.fetchall()
            opened = [self._open_read(dict(zip(cols, row))) for row in rows]
            out += [r for r in opened if keep is None or keep(r)]
            if keep is None or len(rows) < n or all(map(past, opened)):
                break
            before = rows[-1][0]
        return out[:limit]

    def _open_read(self, r: dict) -> dict:
        rid = r["id"]
        r.pop("rowid", None)
        r["text"] = self.sealer.open(r["text"], f"reads/{rid}/text").decode()
        r["crop"] = self.sealer.open(r["crop"], f"reads/{rid}/crop")
        r.update({"state_confidence": None,  # reads stored before #33 have none
                  **open_meta(self.sealer, "reads", rid, r.pop("meta"))})
        r["bbox"] = json.loads(r["bbox"])
        return r

    def add_disposition(self, body: dict, report: dict | None = None, also=None) -> None:
        """A verify step or disposition on a hit (docs/protocol.md: disposition.v1), queued
        for HQ; with report, a priority report written in the same transaction, and with
        also (a function of the open connection, such as the audit record of the step),
        that too: all of it is stored, or none."""
        try:
            with self.transaction() as conn:
                conn.execute(
                    "INSERT INTO dispositions (id, hit_id, utc, username, action, note) "
                    "VALUES (?,?,?,?,?,?)",
                    (body["id"], body["hit_id"], body["utc"], body["username"],
                     body["action"], self.sealer.seal((body.get("note") or "").encode(),
                                                      f"dispositions/{body['id']}/note")))
                self.enqueue(body["id"], "disposition", body)
                if report:
                    self.enqueue(report["id"], "report", report)
                if also:
                    also(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record {body['action']} on hit {body['hit_id']}: "
                             f"{exc}") from exc

    def dispositions(self, hit_id: str) -> list[dict]:
        with self.lock:
            rows = self.db.conn.execute(
                "SELECT id, utc, username, action FROM dispositions WHERE hit_id=? "
                "ORDER BY utc, rowid", (hit_id,)).fetchall()
        return [dict(zip(("id", "utc", "username", "action"), r)) for r in rows]

    def unclosed_hits(self, since_utc: str, closing: set[str]) -> list[dict]:
        """Hits since since_utc whose alert no disposition in closing has closed (what a
        restart mid-alert must put back on the screen), oldest first, grouped by read: each
        with its read (opened) and its unclosed hits (each hit's steps: dispositions())."""
        marks = ",".join("?" * len(closing))
        since = parse(since_utc)
        with self.lock:
            rows = self.db.conn.execute(
                "SELECT id, read_id, plate, state, list_type, meta, rule, differs, state_rule "
                "FROM hits h WHERE NOT EXISTS (SELECT 1 FROM dispositions d WHERE d.hit_id = "
                f"h.id AND d.action IN ({marks})) ORDER BY rowid",
                sorted(closing)).fetchall()
        hits = []
        for r in rows:
            hit = dict(zip(("id", "read_id", "plate", "state", "list_type", "meta", "rule",
                            "differs", "state_rule"), r))
            hit["plate"] = self.sealer.open(hit["plate"], f"hits/{hit['id']}/plate").decode()
            hit.update(open_meta(self.sealer, "hits", hit["id"], hit.pop("meta")))
            hit["differs"] = json.loads(hit["differs"])
            t = parse(hit["utc"])
            if since is None or (t is not None and t >= since):
                hits.append(hit)
        hits.sort(key=lambda h: h["utc"])  # ISO stamps of one format: text order is time order
        by_read: dict[str, list[dict]] = {}
        for hit in hits:
            del hit["utc"]
            by_read.setdefault(hit.pop("read_id"), []).append(hit)
        out = []
        for read_id, hits in by_read.items():
            read = self.read(read_id)
            if read is None:  # purged by retention
                continue
            out.append({"read": read, "hits": hits})
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
                ids = old[i:i + PAGE]
                marks = ",".join("?" * len(ids))
                conn.execute(f"DELETE FROM hits WHERE read_id IN ({marks}) AND id NOT IN "
                             "(SELECT id FROM outbox)", ids)
                n += conn.execute(f"DELETE FROM reads WHERE id IN ({marks}) AND id NOT IN "
                                  "(SELECT read_id FROM hits)", ids).rowcount
        return n
