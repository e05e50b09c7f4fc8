"""Small state files (roster, last use, commands run): replaced whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol


class Sealing(Protocol):
    """What seals a state file: alprd.store.crypto.Sealer (the data key)."""

    def seal(self, data: bytes, aad: str) -> bytes: ...

    def open(self, blob: bytes, aad: str) -> bytes: ...


def replace_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write data to path so that a power cut leaves the old file or the new one, never a
    torn or empty one: a temporary file beside it, fsynced, then renamed over it. mode
    (e.g. 0o600) is the new file's from its creation, never wider in between."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(tmp, flags, 0o666 if mode is None else mode)
    if mode is not None:
        os.fchmod(fd, mode)  # a leftover temporary file keeps no wider mode
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


SEALED = b"alprd-sealed-v1\n"  # marks a state file sealed with the data key


def write_sealed(path: Path, data: bytes, sealer: Sealing | None) -> None:
    """A state file sealed with the data key (AES-256-GCM, the file's name as associated
    data), mode 0600. sealer: alprd.store.crypto.Sealer; None writes it clear (tests only)."""
    path = Path(path)
    blob = data if sealer is None else SEALED + sealer.seal(data, f"file/{path.name}")
    replace_atomically(path, blob, mode=0o600)


def read_sealed(path: Path, sealer: Sealing | None) -> tuple[bytes, bool]:
    """(contents, was it sealed): a file an older alprd wrote in clear is returned as it is,
    for the caller to seal on its next save. ValueError if it does not open (altered, or
    sealed with another car's key)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw.startswith(SEALED):
        if sealer is None:
            raise ValueError(f"{path} is sealed and no data key was given")
        try:
            return sealer.open(raw[len(SEALED) :], f"file/{path.name}"), True
        except Exception as exc:  # noqa: BLE001  the sealer's TamperError, said as a ValueError
            raise ValueError(str(exc)) from exc
    return raw, False
