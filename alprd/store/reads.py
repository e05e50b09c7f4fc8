"""Reads, hits and the officer's dispositions in the vehicle's store; retention's purge.

Plate texts, crops and notes are sealed (AES-256-GCM, POL-13); plates are found by a keyed
HMAC (blind index) without decrypting.
"""
from __future__ import annotations

import json
import sqlite3

from alprd.protocol import hit_body, read_body
from alprd.store.db import StoreError
from alprd.types import Hit, Read


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
        except sqlite3.Error as exc:
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
            "text_hmac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (read.id, seal(read.text.encode(), f"reads/{read.id}/text"), read.confidence,
             json.dumps(read.char_confidences), read.state, read.utc, read.time_source,
             read.camera_id, read.unit_id, read.lat, read.lon, read.fix_quality,
             seal(read.crop_jpeg, f"reads/{read.id}/crop"), json.dumps(read.bbox),
             read.frames, self.sealer.plate_index(read.text)))
        self.enqueue(read.id, "read", read_body(read))
        for h in hits:
            e = h.entry
            conn.execute(
                "INSERT INTO hits (id, read_id, plate, state, list_type, reason, "
                "priority, case_number, rule, utc, differs, state_rule) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (h.id, h.read_id, seal(e.plate.encode(), f"hits/{h.id}/plate"), e.state,
                 e.list_type, e.reason, e.priority,
                 e.case_number, h.rule, h.utc, json.dumps(h.differs), h.state_rule))
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
        where, args = [], []
        if plate:
            where.append("text_hmac = ?")
            args.append(self.sealer.plate_index(plate))
        if since:
            where.append("utc >= ?")
            args.append(since)
        if until:
            where.append("utc < ?")
            args.append(until)
        return self._reads("WHERE " + " AND ".join(where) if where else "", tuple(args), limit)

    def _reads(self, where: str, args: tuple, limit: int) -> list[dict]:
        with self.lock:
            cur = self.db.conn.execute(
                "SELECT id, text, confidence, state, utc, time_source, camera_id, unit_id, lat, "
                f"lon, fix_quality, crop, bbox, frames FROM reads {where} "
                "ORDER BY utc DESC LIMIT ?", (*args, limit))
            cols = [c[0] for c in cur.description]
            rows = cur.fetchall()
        out = []
        for row in rows:
            r = dict(zip(cols, row))
            r["text"] = self.sealer.open(r["text"], f"reads/{r['id']}/text").decode()
            r["crop"] = self.sealer.open(r["crop"], f"reads/{r['id']}/crop")
            r["bbox"] = json.loads(r["bbox"])
            out.append(r)
        return out

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
        with self.lock:
            rows = self.db.conn.execute(
                "SELECT id, read_id, plate, state, list_type, reason, case_number, rule, "
                "differs, state_rule FROM hits h WHERE utc >= ? AND NOT EXISTS (SELECT 1 "
                f"FROM dispositions d WHERE d.hit_id = h.id AND d.action IN ({marks})) "
                "ORDER BY utc, rowid", (since_utc, *sorted(closing))).fetchall()
        by_read: dict[str, list[dict]] = {}
        for r in rows:
            hit = dict(zip(("id", "read_id", "plate", "state", "list_type", "reason",
                            "case_number", "rule", "differs", "state_rule"), r))
            hit["plate"] = self.sealer.open(hit["plate"], f"hits/{hit['id']}/plate").decode()
            hit["differs"] = json.loads(hit["differs"])
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
        with their hits. Unacknowledged reads are never purged here."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM hits WHERE read_id IN (SELECT id FROM reads WHERE "
                         "uplinked=1 AND utc < ?) AND id NOT IN (SELECT id FROM outbox)",
                         (before_utc,))
            n = conn.execute("DELETE FROM reads WHERE uplinked=1 AND utc < ? AND id NOT IN "
                             "(SELECT read_id FROM hits)", (before_utc,)).rowcount
        return n

