"""HQ's keys: the Ed25519 signing key (hotlist, roster, commands) and the plate index key."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def signing_key(path: Path) -> Ed25519PrivateKey:
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
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
    pub = path.with_name(path.name + ".pub")
    if not pub.exists():
        pub.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return key


def create_once(path: Path, data: bytes) -> None:
    """Write a key file (mode 0600) unless it exists: whole or not at all, and where two HQ
    processes make it at the same moment, the first one's wins and both use it."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def load_index_key(path: Path) -> bytes:
    """HQ's plate index key (32 random bytes, mode 0600), made on first use. It keys the
    blind index by which HQ finds a plate's reads; keep it with the database's backups."""
    import os

    path = Path(path)
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        create_once(path, os.urandom(32))
        key = path.read_bytes()
    if len(key) != 32:
        raise ValueError(f"{path}: a plate index key is 32 bytes, not {len(key)}")
    return key
