"""HQ's PostgreSQL schema, as numbered migrations (alprd.hq.pgrecords applies them once, in
order, under an advisory lock). Never edit a migration that has shipped: add the next one.
Also what PgStore's statements share: the monthly partitions' names, the units row a batch
updates, and rows as SQLite's back end gives them (times as ISO text)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

_COLS = (
    "unit_id text NOT NULL, id text NOT NULL, kind text NOT NULL, body jsonb NOT NULL, "
    "captured_utc timestamptz NOT NULL, received_utc timestamptz NOT NULL, "
    "plate_index bytea, logical_deleted_utc timestamptz"
)

MIGRATIONS = {
    1: [
        # the primary key must hold the partition key; a record's capture time is part of
        # it (a resend carries the same body), so ON CONFLICT still stores it once
        f"CREATE TABLE records ({_COLS}, PRIMARY KEY (unit_id, id, captured_utc)) "
        "PARTITION BY RANGE (captured_utc)",
        "CREATE INDEX records_plate ON records (plate_index) WHERE plate_index IS NOT NULL",
        "CREATE INDEX records_unit_time ON records (unit_id, captured_utc)",
        "CREATE INDEX records_time ON records USING brin (captured_utc)",
        # records under a legal hold, moved out of a month before it is dropped
        f"CREATE TABLE held_records ({_COLS}, PRIMARY KEY (unit_id, id))",
        "CREATE INDEX held_records_plate ON held_records (plate_index)",
        "CREATE TABLE holds (ref text PRIMARY KEY, reason text NOT NULL, "
        "placed_utc timestamptz NOT NULL, reviewed_utc timestamptz NOT NULL, "
        "released_utc timestamptz)",
        "CREATE TABLE hold_records (ref text NOT NULL REFERENCES holds, record_id text NOT "
        "NULL, PRIMARY KEY (ref, record_id))",
        "CREATE INDEX hold_records_id ON hold_records (record_id)",
        "CREATE TABLE access_log (seq bigserial PRIMARY KEY, utc timestamptz NOT NULL, "
        "username text NOT NULL, role text NOT NULL, action text NOT NULL, purpose text, "
        "query text NOT NULL, ground text, request_ref text, result_count integer, "
        "refused text)",
        "CREATE TABLE published (kind text PRIMARY KEY, version bigint NOT NULL)",
        "CREATE TABLE refused (unit_id text NOT NULL, id text NOT NULL, kind text NOT NULL, "
        "body text NOT NULL, reason text NOT NULL, received_utc timestamptz NOT NULL, "
        "PRIMARY KEY (unit_id, id))",
        "CREATE TABLE units (unit_id text PRIMARY KEY, last_seen_utc timestamptz, "
        "records bigint NOT NULL DEFAULT 0, uplink_lag_s double precision, "
        "prev_lag_s double precision, last_selftest_utc text, "
        "open_tickets integer NOT NULL DEFAULT 0, hotlist_version bigint, "
        "hotlist_age_s double precision, outbox_depth bigint)",
        "CREATE TABLE hotlist_published (one integer PRIMARY KEY CHECK (one = 1), "
        "version bigint NOT NULL, entries jsonb NOT NULL, snapshot boolean NOT NULL)",
    ],
    # each car's parts as its own strip shows them (up.v1 status health, problems), and the
    # last roster HQ published: its operators sign in to search with it (#36)
    2: [
        "ALTER TABLE units ADD COLUMN car_health text",
        "CREATE TABLE roster_published (one integer PRIMARY KEY CHECK (one = 1), "
        "version bigint NOT NULL, users text NOT NULL)",
    ],
}
SCHEMA_VERSION = max(MIGRATIONS)


def month_of(t: datetime) -> datetime:
    t = t.astimezone(timezone.utc)
    return datetime(t.year, t.month, 1, tzinfo=timezone.utc)


def next_month(m: datetime) -> datetime:
    return m.replace(year=m.year + 1, month=1) if m.month == 12 else m.replace(month=m.month + 1)


def partition_name(m: datetime) -> str:
    return f"records_y{m.year:04d}m{m.month:02d}"


# what a batch tells of its car (alprd.hq.fleet): one statement for every shape of batch
SEEN_SQL = (
    "UPDATE units SET last_seen_utc = %(now)s, records = records + %(n)s, "
    "prev_lag_s = CASE WHEN %(lag)s::float8 IS NULL THEN prev_lag_s ELSE uplink_lag_s END, "
    "uplink_lag_s = coalesce(%(lag)s::float8, uplink_lag_s), "
    "last_selftest_utc = CASE WHEN %(st)s::text IS NULL THEN last_selftest_utc "
    "ELSE greatest(last_selftest_utc, %(st)s::text) END, "
    "open_tickets = CASE WHEN %(st)s::text IS NULL THEN open_tickets ELSE 0 END "
    "+ %(tickets)s, "
    "hotlist_version = coalesce(%(hotlist_version)s::bigint, hotlist_version), "
    "hotlist_age_s = coalesce(%(hotlist_age_s)s::float8, hotlist_age_s), "
    "outbox_depth = coalesce(%(outbox_depth)s::bigint, outbox_depth), "
    "car_health = coalesce(%(car_health)s::text, car_health) "
    "WHERE unit_id = %(unit)s"
)


def seen_row(
    unit: str, now: datetime, n: int, health: dict[str, Any], status: dict[str, Any]
) -> dict[str, Any]:
    return {
        "unit": unit,
        "now": now,
        "n": n,
        "lag": health["lag_s"],
        "st": health["last_selftest_utc"],
        "tickets": health["tickets"],
        "hotlist_version": status.get("hotlist_version"),
        "hotlist_age_s": status.get("hotlist_age_s"),
        "outbox_depth": status.get("outbox_depth"),
        "car_health": status.get("car_health"),
    }


def iso_value(v: Any) -> Any:
    return v.astimezone(timezone.utc).isoformat() if isinstance(v, datetime) else v


def scalar(row: tuple[Any, ...] | None) -> Any:
    """The one value of a query that always returns one row (count, max, RETURNING)."""
    if row is None:
        raise RuntimeError("hq: the database returned no row where one is always returned")
    return row[0]


def dict_rows(cur: Any) -> list[dict[str, Any]]:
    """A cursor's rows as dicts, times as ISO text (as SQLite stores them)."""
    cols = [c.name for c in cur.description or ()]
    return [{k: iso_value(v) for k, v in zip(cols, r)} for r in cur.fetchall()]
