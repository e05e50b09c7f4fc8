"""Encryption at rest (POL-13): AES-256-GCM for plate texts, crops and outbox records.

Each value is sealed as nonce (12 bytes) || ciphertext+tag, with associated data naming the
record and the column, so a ciphertext moved to another row or column fails to open. Plate
texts also get a keyed HMAC (a blind index) so that exact lookups and the count of distinct
plates at risk (POL-14) need no decryption. The key is 32 random bytes made by
`alprd provision`, readable by the service account alone.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class DataKeyError(Exception):
    """The data key is missing, unreadable, or too open."""


class TamperError(Exception):
    """A stored value failed authentication: altered, moved, or sealed with another key."""


def data_key_path(configured: str) -> Path:
    """systemd's LoadCredential= copy when running under it, else the configured file."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / "data.key").exists():
        return Path(creds) / "data.key"
    return Path(configured)


def load_key(path: Path) -> bytes:
    path = Path(path)
    try:
        st = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise DataKeyError(
            f"no data key at {path} ({exc.strerror}): run 'alprd provision'"
        ) from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DataKeyError(
            f"data key {path} is readable by others (mode "
            f"{stat.S_IMODE(st.st_mode):o}): chmod 600 it"
        )
    if len(data) != KEY_BYTES:
        raise DataKeyError(f"data key {path} has {len(data)} bytes, not {KEY_BYTES}")
    return data


def make_key(path: Path) -> bool:
    """Write a new random key (mode 0600) unless one exists; True when one was made."""
    path = Path(path)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(KEY_BYTES))
    return True


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("AES-256 needs a 32-byte key")
        self._aead = AESGCM(key)
        self._mac_key = hmac.new(key, b"alprd plate index v1", hashlib.sha256).digest()

    def seal(self, data: bytes, aad: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, aad.encode())

    def open(self, blob: bytes, aad: str) -> bytes:
        if not isinstance(blob, (bytes, bytearray)) or len(blob) < NONCE_BYTES + 16:
            raise TamperError(f"{aad}: not a sealed value")
        try:
            return self._aead.decrypt(
                bytes(blob[:NONCE_BYTES]), bytes(blob[NONCE_BYTES:]), aad.encode()
            )
        except InvalidTag as exc:
            raise TamperError(
                f"{aad}: failed authentication (altered, moved, or another key)"
            ) from exc

    def plate_index(self, text: str) -> str:
        return hmac.new(self._mac_key, text.encode(), hashlib.sha256).hexdigest()[:32]
