"""The reference HQ endpoint: what the demo and the tests talk to, and what an agency reads to
build its own (docs/protocol.md, docs/hq-operations.md). Records are stored once per (unit,
id), so resends are harmless.

records: the record store on SQLite (embedded default); pgrecords: the same on PostgreSQL;
schema: what both share; access: who may search; endpoint: MQTT ingest and publishing;
keys: the signing and plate index keys; importers: NCIC and CLEW hotlist files;
fleet: each car's health.
"""

from __future__ import annotations

from alprd.hq.access import DELETED_SEARCH_GROUNDS, AccessRefused
from alprd.hq.endpoint import HqEndpoint
from alprd.hq.keys import signing_key
from alprd.hq.records import HqStore
from alprd.hq.store import RecordStore, open_store

__all__ = [
    "DELETED_SEARCH_GROUNDS",
    "AccessRefused",
    "HqEndpoint",
    "HqStore",
    "RecordStore",
    "open_store",
    "signing_key",
]
