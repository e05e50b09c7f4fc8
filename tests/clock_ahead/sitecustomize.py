"""Loaded (as sitecustomize) only by `./run clock-ahead`, which runs the suite with the wall
clock moved ahead by libfaketime, monotonic time left true (DONT_FAKE_MONOTONIC=1).

libfaketime 0.9.10 (Debian 12) turns CPython's time.sleep, an absolute clock_nanosleep on
CLOCK_MONOTONIC, into EINVAL when the wall clock is offset; timed waits on locks and events
are unaffected. This makes time.sleep such a wait, in every Python process of the run (the
tests, the daemons they start, paho's threads), so that the run tests our code's use of the
wall clock and not libfaketime's.
"""

import os
import threading
import time

if "faketime" in os.environ.get("LD_PRELOAD", ""):

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        threading.Event().wait(seconds)

    time.sleep = _sleep
