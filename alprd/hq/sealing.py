"""HQ's record bodies sealed at rest (CJIS SC-28 at HQ too, #32 item 11).

The cars seal every read on the SD card; at HQ the bodies (plates, positions, times, hit
reasons and case numbers, notes) sat in clear JSON in the database, readable by anyone with a
backup or a database login. Now each body is stored as {"sealed": "KID:BASE64"}: AES-256-GCM,
the nonce first, the row (table, unit, id) as associated data so a body moved to another row
does not open. What HQ searches by stays outside the seal: the plate's blind index (HMAC),
the unit, the kind, the capture time.

The keys live outside the database, in a key ring file beside it (DB.body-keys for SQLite,
hq-body.keys for PostgreSQL; mode 0600, made on first use): {"current": KID, "keys": {KID:
hex}}. Rotation (`alprd hq rotate-body-key`): a new key becomes current, every body is sealed
again under it, then the old keys are dropped from the ring; a rotation cut short leaves
every key still in the ring, so everything still opens, and running it again finishes it.
Bodies stored in clear by an older HQ open as they are, and the rotation seals them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from alprd.files import replace_atomically
from alprd.hq.keys import create_once

NONCE = 12


class SealError(ValueError):
    """A body that does not open: altered, moved to another row, or its key is not in the
    ring; the message says which."""


class BodySealer:
    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys or any(len(k) != 32 for k in keys.values()):
            raise ValueError("a body key ring needs its current key and 32-byte keys")
        self.keys, self.current = dict(keys), current
        self._aead = {kid: AESGCM(k) for kid, k in keys.items()}

    def seal(self, body: Any, aad: str) -> dict[str, Any]:
        nonce = os.urandom(NONCE)
        ct = self._aead[self.current].encrypt(nonce, json.dumps(body).encode(), aad.encode())
        return {"sealed": f"{self.current}:{base64.b64encode(nonce + ct).decode()}"}

    def seal_text(self, body: Any, aad: str) -> str:
        return json.dumps(self.seal(body, aad))

    def open(self, stored: str | bytes | dict[str, Any], aad: str) -> Any:
        """The body, from its stored form (JSON text or the decoded object); a body an older
        HQ stored in clear is returned as it is."""
        value = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
        if not (isinstance(value, dict) and set(value) == {"sealed"}):
            return value
        kid, _, blob = str(value["sealed"]).partition(":")
        if kid not in self._aead:
            raise SealError(f"{aad}: sealed with key {kid!r}, which is not in the key ring")
        raw = base64.b64decode(blob)
        try:
            return json.loads(self._aead[kid].decrypt(raw[:NONCE], raw[NONCE:], aad.encode()))
        except InvalidTag as exc:
            raise SealError(
                f"{aad}: failed authentication (altered, or moved from another row)"
            ) from exc

    def is_current(self, stored: str | bytes | dict[str, Any]) -> bool:
        value = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
        return (
            isinstance(value, dict)
            and isinstance(value.get("sealed"), str)
            and value["sealed"].startswith(self.current + ":")
        )


def _ring(current: str, keys: dict[str, bytes]) -> bytes:
    return (
        json.dumps({"current": current, "keys": {k: v.hex() for k, v in keys.items()}}) + "\n"
    ).encode()


def _new_kid(keys: dict[str, bytes]) -> str:
    return f"k{len(keys) + 1}-{secrets.token_hex(3)}"


def body_keys_path(target: Path | str, body_keys: Path | None = None) -> Path:
    """The body key ring's file: body_keys if given, else TARGET.body-keys for SQLite and
    hq-body.keys in the working folder for PostgreSQL."""
    if body_keys:
        return Path(body_keys)
    text = str(target)
    return (
        Path("hq-body.keys")
        if text.startswith(("postgresql://", "postgres://"))
        else Path(text + ".body-keys")
    )


def load_body_keys(path: Path) -> BodySealer:
    """The key ring at path, made (one key, mode 0600) on first use; another worker making it
    at the same moment wins and both use its key."""
    path = Path(path)
    if not path.exists():
        kid = _new_kid({})
        create_once(path, _ring(kid, {kid: os.urandom(32)}))
    try:
        ring = json.loads(path.read_text())
        keys = {str(k): bytes.fromhex(v) for k, v in ring["keys"].items()}
        return BodySealer(keys, str(ring["current"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a body key ring ({exc})") from exc


def add_key(path: Path) -> BodySealer:
    """A new key, current from now on; the old ones stay to open what they sealed."""
    old = load_body_keys(path)
    kid = _new_kid(old.keys)
    keys = {**old.keys, kid: os.urandom(32)}
    replace_atomically(Path(path), _ring(kid, keys), mode=0o600)
    return BodySealer(keys, kid)


def drop_old_keys(path: Path) -> BodySealer:
    """Keep the current key alone (once every body is sealed under it)."""
    ring = load_body_keys(path)
    keys = {ring.current: ring.keys[ring.current]}
    replace_atomically(Path(path), _ring(ring.current, keys), mode=0o600)
    return BodySealer(keys, ring.current)
