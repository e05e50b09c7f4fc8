"""Small state files (roster, last use, commands run): replaced whole or not at all."""
from __future__ import annotations

import os
from pathlib import Path


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
