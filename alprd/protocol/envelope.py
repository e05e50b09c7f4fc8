"""The signed envelope HQ puts round hotlist updates, rosters and commands (docs/protocol.md).

On the wire: `signature (64 bytes) || gzip(JSON)`, signed with HQ's Ed25519 key. The vehicle
holds HQ's public key (pinned) and refuses anything else, with a one-line reason.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from alprd.protocol import strictjson
from alprd.protocol.version import PROTOCOL_VERSION

SIG_BYTES = 64
MAX_COMPRESSED = 64 * 1024 * 1024
MAX_JSON = 512 * 1024 * 1024


class UpdateRefused(Exception):
    """A signed message that was not applied; the message says why."""


def load_public_key(path: Path) -> Ed25519PublicKey:
    """HQ's pinned key: PEM, or 32 raw bytes."""
    from cryptography.hazmat.primitives import serialization

    data = Path(path).read_bytes()
    try:
        if data.startswith(b"-----"):
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(data)
    except ValueError as exc:
        raise UpdateRefused(f"{path}: not an Ed25519 public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise UpdateRefused(f"{path}: not an Ed25519 public key")
    return key


def sign(body: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    """HQ side: the wire form of a signed message."""
    text = json.dumps(body, separators=(",", ":"), allow_nan=False)  # no NaN: cars refuse it
    payload = gzip.compress(text.encode(), 6)
    return key.sign(payload) + payload


def verify(message: bytes, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The message's JSON body, or UpdateRefused (forged, truncated, malformed)."""
    if len(message) <= SIG_BYTES:
        raise UpdateRefused(f"update of {len(message)} bytes is truncated")
    if len(message) > MAX_COMPRESSED + SIG_BYTES:
        raise UpdateRefused(f"update of {len(message)} bytes exceeds {MAX_COMPRESSED}")
    sig, payload = message[:SIG_BYTES], message[SIG_BYTES:]
    try:
        public_key.verify(sig, payload)
    except InvalidSignature as exc:
        raise UpdateRefused(
            "signature does not verify against the pinned HQ key (forged, altered or truncated)"
        ) from exc
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(payload)) as f:
            raw = f.read(MAX_JSON + 1)
        if len(raw) > MAX_JSON:
            raise UpdateRefused("update expands beyond the size limit")
        body = strictjson.loads(raw, "update")
    except (OSError, EOFError, ValueError) as exc:
        raise UpdateRefused(f"signed but unreadable: {exc}") from exc
    if not isinstance(body, dict) or body.get("v") != PROTOCOL_VERSION:
        raise UpdateRefused(f"update has no 'v': {PROTOCOL_VERSION}")
    return body


def check(body: dict[str, Any], schema_name: str) -> dict[str, Any]:
    """The body, if it fits its published schema; else UpdateRefused naming the field. Every
    signed message is checked so before use: a signature proves who sent it, not that it is
    well formed."""
    from alprd.protocol.schemas import validate

    try:
        validate(schema_name, body)
    except ValueError as exc:
        raise UpdateRefused(f"does not fit its schema: {exc}") from exc
    return body
