"""The reference HQ endpoint: what the demo and the tests talk to, and what an agency reads to
build its own (docs/protocol.md). Records are stored once by id, so resends are harmless.

records: the record store, holds and retention; access: who may search; endpoint: MQTT;
keys: the signing key; importers: NCIC and CLEW hotlist files.
"""
from alprd.hq.access import DELETED_SEARCH_GROUNDS, AccessRefused
from alprd.hq.endpoint import HqEndpoint
from alprd.hq.keys import signing_key
from alprd.hq.records import HqStore

__all__ = ["DELETED_SEARCH_GROUNDS", "AccessRefused", "HqEndpoint", "HqStore", "signing_key"]
