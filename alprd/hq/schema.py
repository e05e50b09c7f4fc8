"""What both HQ back ends share: the batch check, the plate index, and the fleet's health.

A record is stored once per (unit, id): ids are the car's own, so another car's id is another
record. A plate is searched by its keyed HMAC (a blind index), never by opening the bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from alprd.hq.sealing import BodySealer
from alprd.protocol import check_record, retention

log = logging.getLogger(__name__)

STATUS_FIELDS = ("hotlist_version", "hotlist_age_s", "outbox_depth")
CAR_PARTS = ("camera", "gps", "uplink", "hotlist")  # alprd.carstatus.PARTS, as a car sends them
HOTLIST_STALE_S = 86400.0  # a car's hotlist.max_age_s default: older lists may miss wants
LAG_FLAG_S = 900.0  # records arriving more than 15 minutes after capture
# a car purges what it holds after store.local_cap_days (730 at most), and its clock is
# within a day of HQ's: a record's time outside these bounds is not its capture time
CAR_HOLDS_AT_MOST = timedelta(days=731)
FUTURE_SKEW = timedelta(days=1)


# one car's upload: (unit, records, status)
Batch = tuple[str, list[dict[str, Any]], dict[str, Any] | None]


class IndexKeyed:
    """A store's keys, each loaded when first needed (`alprd hq status` opens a store without
    them): the plate index key (bytes, or a () -> bytes) and the body key ring (a
    BodySealer, or a () -> BodySealer: alprd.hq.sealing)."""

    _key: bytes | Callable[[], bytes]
    _sealer: BodySealer | Callable[[], BodySealer]

    @property
    def key(self) -> bytes:
        if callable(self._key):
            self._key = self._key()
        return self._key

    @property
    def sealer(self) -> BodySealer:
        if callable(self._sealer):
            self._sealer = self._sealer()
        return self._sealer

    # each back end's own (records.py, pgrecords.py): what reseal() reads and writes with
    def _select(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        raise NotImplementedError

    def _update(self, sql: str, rows: list[Any]) -> None:
        raise NotImplementedError

    def last_hotlist(self) -> tuple[int, list[dict[str, Any]], bool] | None:
        raise NotImplementedError

    def save_hotlist(self, version: int, entries: list[dict[str, Any]], snapshot: bool) -> None:
        raise NotImplementedError

    def save_roster(self, version: int, users: list[dict[str, Any]]) -> None:
        """The roster as published (sealed at rest: names and PIN hashes)."""
        self._update(
            "INSERT INTO roster_published VALUES (1, %s, %s) ON CONFLICT (one) DO UPDATE "
            "SET version=excluded.version, users=excluded.users",
            [(version, self.sealer.seal_text(users, "roster_published"))],
        )

    def body_of(
        self, unit: str, kind: str, rid: str, include_deleted: bool = False
    ) -> dict[str, Any] | None:
        """One stored record's body, opened (its car and id: the key's prefix), or None (also
        when it is logically deleted, unless include_deleted)."""
        rows = self._select(
            "SELECT body FROM records WHERE unit_id = %s AND id = %s AND kind = %s"
            + ("" if include_deleted else " AND logical_deleted_utc IS NULL"),
            (unit, rid, kind),
        )
        if not rows:
            return None
        body = self.open_body(unit, rid, rows[0][0])
        return body if isinstance(body, dict) else None

    def log_sign_in_refused(self, username: str, why: str, now: datetime) -> None:
        """A search whose searcher could not sign in (alprd.hq.search): in the access log,
        as every refused search is (CJIS AU-2)."""
        self.log_access(now, username, "-", "sign_in", None, {}, None, why)

    def log_access(
        self,
        now: datetime,
        username: str,
        role: str,
        action: str,
        purpose: str | None,
        query: dict[str, Any],
        count: int | None,
        refused: str | None = None,
    ) -> None:
        """One line of HQ's access log (a QA export, a refused sign-in), its query sealed."""
        self._update(
            "INSERT INTO access_log (utc, username, role, action, purpose, query, ground, "
            "request_ref, result_count, refused) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            [
                (
                    now.isoformat(),
                    username[:64],
                    role,
                    action,
                    purpose,
                    self.seal_query(json.dumps(query)),
                    None,
                    None,
                    count,
                    refused,
                )
            ],
        )

    def sign_ins_refused_since(self, username: str, since: datetime) -> int:
        """How many sign-ins of this badge were refused since `since` (the lockout's count)."""
        rows = self._select(
            "SELECT utc FROM access_log WHERE username = %s AND action = 'sign_in' "
            "AND refused IS NOT NULL",
            (username[:64],),
        )
        return sum(1 for (utc,) in rows if _as_utc(utc) >= since)

    def last_roster(self) -> tuple[int, list[dict[str, Any]]] | None:
        rows = self._select("SELECT version, users FROM roster_published")
        return (int(rows[0][0]), self.sealer.open(rows[0][1], "roster_published")) if rows else None

    def open_body(self, unit: str, rid: str, stored: str | bytes | dict[str, Any]) -> Any:
        return self.sealer.open(stored, f"record/{unit}/{rid}")

    def seal_body(self, unit: str, rid: str, body: Any) -> str:
        return self.sealer.seal_text(body, f"record/{unit}/{rid}")

    def seal_query(self, text: str) -> str:
        return self.sealer.seal_text(text, "access_log")

    def opened_log(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "query": self.sealer.open(r["query"], "access_log")} for r in rows]

    SEALED_TABLES: tuple[str, ...] = ("records", "refused")  # PgStore adds held_records

    def reseal(self) -> int:
        """Seal again, under the ring's current key, whatever is not (a rotation, or bodies
        an older HQ stored in clear): bodies, the access log's queries, the last hotlist and roster;
        one transaction per table (the store's _select and _update). Returns the bodies."""
        n = 0
        for table in self.SEALED_TABLES:
            stale = [
                (self.seal_body(u, i, self.open_body(u, i, b)), u, i)
                for u, i, b in self._select(f"SELECT unit_id, id, body FROM {table}")
                if not self.sealer.is_current(b)
            ]
            self._update(f"UPDATE {table} SET body=%s WHERE unit_id=%s AND id=%s", stale)
            n += len(stale)
        self._update(
            "UPDATE access_log SET query=%s WHERE seq=%s",
            [
                (self.seal_query(self.sealer.open(q, "access_log")), seq)
                for seq, q in self._select("SELECT seq, query FROM access_log")
                if not self.sealer.is_current(q)
            ],
        )
        last = self.last_hotlist()
        if last:
            self.save_hotlist(*last)
        roster = self.last_roster()
        if roster:
            self.save_roster(*roster)
        return n


def _as_utc(value: Any) -> datetime:
    """An access log's time as either back end gives it (ISO text, or a timestamptz)."""
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def plate_index(key: bytes, plate: str) -> bytes:
    """The blind index of a plate text (16 bytes of HMAC-SHA256)."""
    return hmac.new(key, plate.strip().upper().encode(), hashlib.sha256).digest()[:16]


def check_batch(
    unit: str, records: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """(records to store, [(record, reason)] to refuse): each body against its schema, and
    the unit it names against the unit it came from (a car may upload only as itself)."""
    good, refused = [], []
    for r in records:
        try:
            check_record(r["kind"], r["body"])
            named = r["body"].get("unit_id")
            if named is not None and named != unit:
                raise ValueError(
                    f"{r['kind']}: names unit {str(named)[:64]!r} but came from {unit!r}"
                )
        except ValueError as exc:
            refused.append((r, str(exc)[:500]))
            log.warning("hq: record %s from %s refused: %s", r["id"][:64], unit, exc)
            continue
        good.append(r)
    return good, refused


def refused_body(r: dict[str, Any]) -> str:
    return json.dumps(r["body"])[:65536]


def captured(r: dict[str, Any], received: datetime | None = None, say: bool = True) -> datetime:
    """When the record was made, for retention and searches: the car's own time, unless
    that cannot be true of a record HQ receives now (received given): older than a car can
    keep one, or in the future. Then retention counts from receipt, so a car whose GPS had the
    week-number rollover (2007) or a spoofed time cannot have its evidence deleted at the
    next run (#32 item 3); the body keeps what the car said."""
    t = retention.parse_utc(r["body"]["utc"])
    if received is not None and not (received - CAR_HOLDS_AT_MOST <= t <= received + FUTURE_SKEW):
        (log.warning if say else log.debug)(
            "hq: record %s says it was made at %s, which cannot be true of a record received "
            "at %s: retention counts from receipt",
            r["id"][:64],
            r["body"]["utc"][:40],
            received.isoformat(timespec="seconds"),
        )
        return received
    return t


def batch_health(records: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """What a batch says of its car: uplink lag (now less the oldest capture in it), its last
    self-test and how many trouble tickets it carries."""
    lag = max(((now - captured(r, now, say=False)).total_seconds() for r in records), default=None)
    selftests = [r["body"]["utc"] for r in records if r["kind"] == "selftest"]
    return {
        "lag_s": lag,
        "last_selftest_utc": max(selftests) if selftests else None,
        "tickets": sum(1 for r in records if r["kind"] == "ticket"),
    }


def clean_status(status: Any) -> dict[str, Any]:
    """The car's own figures from its up message (optional): numbers only, else dropped;
    its parts' levels and problems (known parts and levels, short strings) as one JSON text,
    car_health."""
    if not isinstance(status, dict):
        return {}
    out: dict[str, Any] = {}
    for k in STATUS_FIELDS:
        v = status.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e12:
            out[k] = v
    health, problems = status.get("health"), status.get("problems")
    if isinstance(health, dict):
        levels = {p: health[p] for p in CAR_PARTS if health.get(p) in ("ok", "warn", "fail")}
        said = (
            [p[:300] for p in problems[:8] if isinstance(p, str)]
            if isinstance(problems, list)
            else []
        )
        models = status.get("models")
        out["car_health"] = json.dumps(
            {
                "health": levels,
                "problems": said,
                "models": models[:64] if isinstance(models, str) else None,
            }
        )
    return out


def car_health(unit: dict[str, Any]) -> dict[str, Any]:
    """{"health": {part: level}, "problems": [...], "models": version} as the car last said
    them (empty: a car that predates #36 says nothing)."""
    try:
        got = json.loads(unit.get("car_health") or "{}")
    except ValueError:
        got = {}
    return {
        "health": got.get("health") or {},
        "problems": got.get("problems") or [],
        "models": got.get("models"),
    }


def flags(unit: dict[str, Any], now: datetime, hotlist_version: int | None) -> list[str]:
    """Why a car needs attention: a part failing on the car (as its officer's strip says), a
    self-test that failed (its ticket still open), a stale hotlist, a lag that grows, silence."""
    said = car_health(unit)["health"]  # the list's age: HQ's own flag below
    out = [f"{p} failing" for p, lv in said.items() if lv == "fail" and p != "hotlist"]
    if unit.get("open_tickets"):
        out.append(f"self-test failed: {unit['open_tickets']} open ticket(s)")
    seen = retention.parse_utc(unit["last_seen_utc"]) if unit.get("last_seen_utc") else None
    since = (now - seen).total_seconds() if seen else None
    age = unit.get("hotlist_age_s")
    if age is not None and since is not None and age + since > HOTLIST_STALE_S:
        out.append("hotlist stale")
    elif (
        hotlist_version
        and unit.get("hotlist_version") is not None
        and unit["hotlist_version"] < hotlist_version
        and age is not None
        and age > 600
    ):
        out.append("hotlist behind")
    lag, prev = unit.get("uplink_lag_s"), unit.get("prev_lag_s")
    if lag is not None and lag > LAG_FLAG_S and (prev is None or lag >= prev):
        out.append("lag growing")
    if since is not None and since > 3600:
        out.append("silent")
    return out
