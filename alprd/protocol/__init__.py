"""The contract car and HQ share (docs/protocol.md): version, signed envelope, record bodies,
codecs for the MQTT messages, and validation against the JSON Schemas. Both sides import it;
it imports neither side."""

from alprd.protocol.bodies import (
    PURPOSES,
    command_body,
    entry_to_json,
    hit_body,
    hotlist_snapshot,
    read_body,
    roster_body,
    roster_user,
)
from alprd.protocol.codec import (
    ack_message,
    parse_ack,
    parse_up,
    parse_up_message,
    topics,
    up_message,
)
from alprd.protocol.envelope import SIG_BYTES, UpdateRefused, check, load_public_key, sign, verify
from alprd.protocol.schemas import check_record, validate
from alprd.protocol.version import PROTOCOL_VERSION

__all__ = [
    "PROTOCOL_VERSION",
    "PURPOSES",
    "SIG_BYTES",
    "UpdateRefused",
    "ack_message",
    "check",
    "check_record",
    "command_body",
    "entry_to_json",
    "hit_body",
    "hotlist_snapshot",
    "load_public_key",
    "parse_ack",
    "parse_up",
    "parse_up_message",
    "read_body",
    "roster_body",
    "roster_user",
    "sign",
    "topics",
    "up_message",
    "validate",
    "verify",
]
