"""The reference HQ endpoint: receives uplinked records, validates, stores, acknowledges.

What the demo and the tests talk to, and what an agency reads to build its own (see
docs/protocol.md). Records are stored once by id, so resends are harmless.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

from alprd import retention
from alprd.uplink import PROTOCOL_VERSION, decode

log = logging.getLogger(__name__)

MAX_UP_BYTES = 16 * 1024 * 1024
KINDS = {"read", "hit", "disposition", "report", "breach", "audit", "ticket", "selftest",
         "image"}


def parse_up(payload: bytes) -> tuple[str, list[dict]]:
    """(unit_id, records) from an uplink message; ValueError with the reason if malformed."""
    msg = decode(payload, MAX_UP_BYTES, "message")
    unit = msg.get("unit_id")
    records = msg.get("records")
    if not isinstance(unit, str) or not unit or not isinstance(records, list):
        raise ValueError("needs unit_id (string) and records (list)")
    for r in records:
        if not (isinstance(r, dict) and isinstance(r.get("id"), str) and 0 < len(r["id"]) <= 64
                and r.get("kind") in KINDS and isinstance(r.get("body"), dict)):
            raise ValueError("each record needs id (string), kind (known) and body (object)")
    return unit, records


# When logically deleted data may be searched (POL-10; Department Manual 3/568.53): one of these
# grounds, approved on an Intradepartmental Correspondence, Form 15.02.00, whose reference
# the administrator gives.
DELETED_SEARCH_GROUNDS = {
    "serious_or_violent_felony": "Serious felony (PC 1192.7(c)) or violent felony (PC 667.5(c))",
    "witness_intimidation": "PC 136.1 intimidation of witnesses and victims (aggravated)",
    "human_trafficking": "PC 236.1 human trafficking",
    "protective_order": "PC 273.6(a) violation of a protective order",
    "stalking": "PC 646.9 stalking",
    "sex_offender_registration": "PC 290(c) sex offender registration",
    "terrorism": "Terrorist activity (Department Manual 4/271.46)",
    "court_order": "Pursuant to a court order",
}


class AccessRefused(Exception):
    """A search the policy does not allow; the message says why (and it is logged)."""


class HqStore:
    def __init__(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, unit_id TEXT NOT NULL, "
            "kind TEXT NOT NULL, body TEXT NOT NULL, received_utc TEXT NOT NULL)")
        cols = {c[1] for c in self.conn.execute("PRAGMA table_info(records)")}
        if "captured_utc" not in cols:
            self.conn.execute("ALTER TABLE records ADD COLUMN captured_utc TEXT")
            self.conn.execute("ALTER TABLE records ADD COLUMN logical_deleted_utc TEXT")
        self.conn.execute("CREATE TABLE IF NOT EXISTS holds (ref TEXT PRIMARY KEY, "
                          "reason TEXT NOT NULL, placed_utc TEXT NOT NULL, "
                          "reviewed_utc TEXT NOT NULL, released_utc TEXT)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS hold_records (ref TEXT NOT NULL, "
                          "record_id TEXT NOT NULL, PRIMARY KEY (ref, record_id))")
        self.conn.execute("CREATE TABLE IF NOT EXISTS access_log (seq INTEGER PRIMARY KEY, "
                          "utc TEXT NOT NULL, username TEXT NOT NULL, role TEXT NOT NULL, "
                          "action TEXT NOT NULL, purpose TEXT, query TEXT NOT NULL, "
                          "ground TEXT, request_ref TEXT, result_count INTEGER, "
                          "refused TEXT)")
        self.lock = threading.Lock()
        self.duplicates = 0

    def add(self, unit: str, records: list[dict]) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.lock:
            self.conn.execute("BEGIN")
            for r in records:
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO records (id, unit_id, kind, body, received_utc, "
                    "captured_utc) VALUES (?,?,?,?,?,?)",
                    (r["id"], unit, r["kind"], json.dumps(r["body"]), now,
                     r["body"].get("utc") or now))
                self.duplicates += cur.rowcount == 0
            self.conn.execute("COMMIT")

    # -- retention (POL-09) ---------------------------------------------------------------
    def place_hold(self, ref: str, reason: str, record_ids: list[str], now: datetime) -> None:
        """A legal hold by DR or case number on these records, until released."""
        t = now.isoformat()
        with self.lock:
            self.conn.execute("BEGIN")
            self.conn.execute("INSERT OR IGNORE INTO holds (ref, reason, placed_utc, "
                              "reviewed_utc) VALUES (?,?,?,?)", (ref, reason, t, t))
            self.conn.executemany("INSERT OR IGNORE INTO hold_records VALUES (?,?)",
                                  [(ref, i) for i in record_ids])
            self.conn.execute("COMMIT")

    def release_hold(self, ref: str, now: datetime) -> None:
        with self.lock:
            self.conn.execute("UPDATE holds SET released_utc=? WHERE ref=?",
                              (now.isoformat(), ref))

    def review_hold(self, ref: str, now: datetime) -> None:
        with self.lock:
            self.conn.execute("UPDATE holds SET reviewed_utc=? WHERE ref=?",
                              (now.isoformat(), ref))

    def holds_due_for_review(self, now: datetime) -> list[str]:
        with self.lock:
            rows = self.conn.execute("SELECT ref, reviewed_utc FROM holds "
                                     "WHERE released_utc IS NULL").fetchall()
        return [ref for ref, reviewed in rows
                if retention.hold_review_due(retention.parse_utc(reviewed)) <= now]

    def apply_retention(self, now: datetime) -> tuple[int, int]:
        """Flag records due for logical deletion, delete those due for permanent deletion
        (crops are inside the record); held records are untouched. (logical, permanent)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT r.id, r.captured_utc, r.logical_deleted_utc, EXISTS (SELECT 1 FROM "
                "hold_records h JOIN holds USING (ref) WHERE h.record_id = r.id AND "
                "holds.released_utc IS NULL) FROM records r").fetchall()
            logical, permanent = [], []
            for rid, captured, flagged, held in rows:
                verdict = retention.decide(retention.parse_utc(captured), now, bool(held))
                if verdict == "permanent":
                    permanent.append((rid,))
                elif verdict == "logical" and not flagged:
                    logical.append((now.isoformat(), rid))
            self.conn.execute("BEGIN")
            self.conn.executemany("UPDATE records SET logical_deleted_utc=? WHERE id=?",
                                  logical)
            self.conn.executemany("DELETE FROM records WHERE id=?", permanent)
            self.conn.executemany("DELETE FROM hold_records WHERE record_id=?", permanent)
            self.conn.execute("COMMIT")
        return len(logical), len(permanent)

    def visible_ids(self, role: str) -> set[str]:
        """Record ids a role may see: data users never see logically deleted records."""
        sql = "SELECT id FROM records"
        if role != "administrator":
            sql += " WHERE logical_deleted_utc IS NULL"
        with self.lock:
            return {r[0] for r in self.conn.execute(sql)}

    def search(self, username: str, role: str, purpose: str, plate: str,
               include_deleted: bool = False, ground: str | None = None,
               request_ref: str | None = None, now: datetime | None = None) -> list[dict]:
        """Reads of a plate, for data users and administrators, with one of the six purposes
        (POL-02). Logically deleted reads only for an administrator, with a listed ground and
        the Form 15.02.00 reference (POL-10). Every search, allowed or refused, is logged."""
        from alprd.audit import PURPOSES
        why = None
        if role not in ("data_user", "administrator"):
            why = f"role {role!r} may not search ALPR data"
        elif purpose not in PURPOSES:
            why = "a search needs one of the six authorised purposes"
        elif include_deleted and role != "administrator":
            why = "only an ALPR system administrator may search logically deleted data"
        elif include_deleted and ground not in DELETED_SEARCH_GROUNDS:
            why = "searching logically deleted data needs one of the listed grounds"
        elif include_deleted and not (request_ref or "").strip():
            why = "searching logically deleted data needs the approved Form 15.02.00 reference"
        sql = ("SELECT id, unit_id, body, logical_deleted_utc FROM records WHERE kind='read' "
               "AND json_extract(body, '$.text') = ?")
        if not include_deleted:
            sql += " AND logical_deleted_utc IS NULL"
        with self.lock:
            rows = [] if why else self.conn.execute(sql, (plate,)).fetchall()
            self.conn.execute(
                "INSERT INTO access_log (utc, username, role, action, purpose, query, ground, "
                "request_ref, result_count, refused) VALUES (?,?,?,?,?,?,?,?,?,?)",
                ((now or datetime.now(timezone.utc)).isoformat(), username, role,
                 "search_deleted" if include_deleted else "search", purpose,
                 json.dumps({"plate": plate}), ground, request_ref,
                 None if why else len(rows), why))
        if why:
            log.warning("hq: search by %s refused: %s", username, why)
            raise AccessRefused(why)
        return [{"id": i, "unit_id": u, **json.loads(b), "logically_deleted_utc": d}
                for i, u, b, d in rows]

    def access_log(self) -> list[dict]:
        with self.lock:
            cur = self.conn.execute("SELECT * FROM access_log ORDER BY seq")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def count(self, kind: str | None = None) -> int:
        with self.lock:
            if kind:
                return self.conn.execute("SELECT count(*) FROM records WHERE kind=?",
                                         (kind,)).fetchone()[0]
            return self.conn.execute("SELECT count(*) FROM records").fetchone()[0]

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class HqEndpoint:
    def __init__(self, broker: str, db_path: Path, prefix: str = "alprd/v1",
                 client_id: str = "alprd-hq", tls=None) -> None:
        """tls: an alprd.uplink.TlsFiles with HQ's client certificate, for mqtts://."""
        import paho.mqtt.client as mqtt

        url = urlparse(broker)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 1883
        self.prefix = prefix.rstrip("/")
        self.store = HqStore(db_path)
        self.received = 0
        self.rejected = 0
        self.on_records = None  # optional callback(unit, records), for the demo's console
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(1, 30)
        if url.scheme == "mqtts":
            self.client.tls_set_context(tls.context())
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.connected = threading.Event()

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def publish_hotlist(self, entries, signing_key, version: int | None = None,
                        timeout: float = 10.0) -> int:
        """Publish a signed snapshot, retained, so a car that connects later gets it at once.
        Returns the list version (UTC seconds at HQ unless given)."""
        from alprd.hotlist.sync import entry_to_json
        version = version or int(time.time())
        self._publish_signed("hotlist", {
            "v": PROTOCOL_VERSION, "kind": "hotlist.snapshot", "list_version": version,
            "created_utc": _now(), "entries": [entry_to_json(e) for e in entries]},
            signing_key, retain=True, timeout=timeout)
        return version

    def publish_roster(self, users: list[dict], signing_key, version: int | None = None,
                       timeout: float = 10.0) -> int:
        """Publish the signed user roster (roster.v1), retained; users from roster_user().
        A user left out, or deactivated, is signed out on every car at once (POL-15)."""
        body = roster_body(users, version)
        self._publish_signed("roster", body, signing_key, retain=True, timeout=timeout)
        return body["roster_version"]

    def send_command(self, unit: str, command: str, signing_key, timeout: float = 10.0) -> str:
        """A signed command (command.v1) for one car, e.g. "selftest"; returns its id."""
        body = command_body(unit, command)
        self._publish_signed(f"{unit}/cmd", body, signing_key, retain=False, timeout=timeout)
        return body["id"]

    def _publish_signed(self, topic: str, body: dict, signing_key, retain: bool,
                        timeout: float) -> None:
        from alprd.hotlist.sync import sign
        if not self.connected.wait(timeout):
            raise TimeoutError(f"hq: no broker at {self.host}:{self.port}")
        info = self.client.publish(f"{self.prefix}/{topic}", sign(body, signing_key), qos=1,
                                   retain=retain)
        info.wait_for_publish(timeout)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.store.close()

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            log.warning("hq: broker refused: %s", reason_code)
            return
        client.subscribe(f"{self.prefix}/+/up", qos=1)
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        try:
            unit, records = parse_up(msg.payload)
            if msg.topic != f"{self.prefix}/{unit}/up":
                raise ValueError(f"unit_id {unit!r} does not match topic {msg.topic!r}")
        except ValueError as exc:
            self.rejected += 1
            log.warning("hq: rejected message on %s: %s", msg.topic, exc)
            return
        try:
            self.store.add(unit, records)
        except sqlite3.Error as exc:  # not stored, so not acknowledged: the car resends
            log.error("hq: cannot store %d record(s) from %s: %s", len(records), unit, exc)
            return
        self.received += len(records)
        ack = {"v": PROTOCOL_VERSION, "ids": [r["id"] for r in records]}
        client.publish(f"{self.prefix}/{unit}/ack", json.dumps(ack), qos=1)
        if self.on_records:
            self.on_records(unit, records)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def roster_body(users: list[dict], version: int | None = None) -> dict:
    """roster.v1 (signed on the wire); version defaults to HQ's clock in microseconds."""
    return {"v": PROTOCOL_VERSION, "kind": "roster",
            "roster_version": version or time.time_ns() // 1000, "created_utc": _now(),
            "users": users}


def command_body(unit: str, command: str) -> dict:
    """command.v1 (signed on the wire)."""
    import uuid
    return {"v": PROTOCOL_VERSION, "kind": "command", "id": str(uuid.uuid4()), "unit_id": unit,
            "command": command, "issued_utc": _now()}


def roster_user(badge: str, name: str, role: str, pin: str, trained_utc: str | None,
                last_use_utc: str | None = None, status: str = "active") -> dict:
    """One roster entry; the PIN leaves HQ only as its argon2id hash."""
    from alprd.roster import hash_pin
    return {"badge": badge, "name": name, "role": role, "pin_hash": hash_pin(pin),
            "trained_utc": trained_utc, "last_use_utc": last_use_utc, "status": status}


def signing_key(path: Path):
    """HQ's Ed25519 hotlist signing key, made on first use (mode 0600) with its public half
    beside it as PATH.pub (PEM), which vehicles pin as hotlist.public_key."""
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    path = Path(path)
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
    else:
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    pub = path.with_name(path.name + ".pub")
    if not pub.exists():
        pub.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key
