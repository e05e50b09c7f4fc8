"""HQ's PostgreSQL schema, as numbered migrations (alprd.hq.pgrecords applies them once, in
order, under an advisory lock). Never edit a migration that has shipped: add the next one."""
from __future__ import annotations

_COLS = ("unit_id text NOT NULL, id text NOT NULL, kind text NOT NULL, body jsonb NOT NULL, "
         "captured_utc timestamptz NOT NULL, received_utc timestamptz NOT NULL, "
         "plate_index bytea, logical_deleted_utc timestamptz")

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
}
SCHEMA_VERSION = max(MIGRATIONS)
