"""Small builders shared by tests."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from alprd.clock import iso
from alprd.types import Hit, HotlistEntry, Read

LIBFAKETIME = next(
    (
        p
        for p in (
            "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
            "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
            "/usr/lib/faketime/libfaketime.so.1",
        )
        if Path(p).exists()
    ),
    None,
)  # Debian's faketime package (clock tests)
KEY = bytes(range(32))  # a fixed data key for tests; real keys come from `alprd provision`


def key_file(folder: Path) -> Path:
    """KEY written as a data key file (mode 0600) in folder."""
    path = Path(folder) / "data.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(KEY)
    return path


def make_read(text: str = "7ABC123", unit: str = "CAR-1", **kw) -> Read:
    """A read stamped now (built from the clock, so code that measures age against the wall
    clock sees a fresh read on any date); pass utc= for a read of a chosen age."""
    crop = np.full((30, 60, 3), 200, np.uint8)
    cv2.putText(crop, text[:4], (2, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
    ok, jpeg = cv2.imencode(".jpg", crop)
    fields = dict(
        id=str(uuid.uuid4()),
        text=text,
        confidence=0.93,
        char_confidences=tuple([0.93] * len(text)),
        state=None,
        utc=iso(datetime.now(timezone.utc)),
        time_source="system",
        camera_id="rear",
        unit_id=unit,
        lat=34.05,
        lon=-118.24,
        fix_quality=1,
        crop_jpeg=jpeg.tobytes(),
        bbox=(10, 20, 70, 50),
        frames=5,
    )
    fields.update(kw)
    return Read(**fields)


def make_hit(read: Read) -> Hit:
    entry = HotlistEntry(read.text, "CA", "stolen_vehicle", "test", 1, "NIC/V1")
    return Hit(str(uuid.uuid4()), read.id, entry, "exact", read.utc)


def wait_for(cond, timeout: float = 10.0, every: float = 0.02) -> bool:
    """Wait until cond() is true (True) or timeout seconds have passed (cond()'s last word);
    for threads and processes, instead of a sleep and an assertion."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if cond():
            return True
        pause.wait(every)
    return bool(cond())
