"""Small state files (roster, last use, commands run): replaced whole or not at all."""
from __future__ import annotations

import os
from pathlib import Path


def replace_atomically(path: Path, data: bytes) -> None:
    """Write data to path so that a power cut leaves the old file or the new one, never a
    torn or empty one: a temporary file beside it, fsynced, then renamed over it."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
