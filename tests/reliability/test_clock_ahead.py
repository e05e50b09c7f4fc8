"""The tests that touch dates pass with the wall clock 400 days ahead.

Tests once stamped data with fixed dates and measured it against today's clock; each broke CI
on the day the date fell out of a window (a 12-hour restore window, a 1-day local cap, a
hotlist record's expiry). This runs those modules again under libfaketime, wall clock
+400 days, monotonic time true, so a new one is caught the day it is written, not a year
later. `./run clock-ahead` runs the whole suite the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import LIBFAKETIME

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "test_alerts",
    "test_audit",
    "test_clock",
    "test_hotlist",
    "test_hotlist_sync",
    "test_hq_importers",
    "test_protocol_schemas",
    "test_retention",
    "test_roster",
    "test_security_store",
    "test_selftest",
    "test_store",
]
# what cannot run under libfaketime, and why (the same list as ./run clock-ahead)
CANNOT = {
    "tests/test_selftest.py::test_healthy_car_passes": (
        "libfaketime does not shift file times: a hotlist saved a moment ago has an mtime "
        "400 days old to the shifted clock"
    )
}


def clock_ahead_env(days: int) -> dict:
    env = dict(
        os.environ,
        LD_PRELOAD=LIBFAKETIME,
        FAKETIME=f"+{days}d",
        DONT_FAKE_MONOTONIC="1",
        PYTHONPATH=str(ROOT / "tests" / "clock_ahead"),
    )
    env.pop("FAKETIME_TIMESTAMP_FILE", None)
    return env


@pytest.mark.skipif(
    LIBFAKETIME is None,
    reason="libfaketime not installed (apt-get install faketime; ./run test installs it)",
)
@pytest.mark.skipif(
    "faketime" in os.environ.get("LD_PRELOAD", ""),
    reason="the clock is already moved (./run clock-ahead runs every test so)",
)
def test_date_sensitive_tests_pass_with_the_clock_400_days_ahead():
    shifted = subprocess.run(
        [
            sys.executable,
            "-c",
            "from datetime import datetime, timezone; print(datetime.now(timezone.utc).year)",
        ],
        env=clock_ahead_env(400),
        capture_output=True,
        text=True,
        timeout=60,
    )
    from datetime import datetime, timezone

    assert int(shifted.stdout) > datetime.now(timezone.utc).year  # the clock did move
    args = [f"tests/{m}.py" for m in MODULES]
    for test in CANNOT:
        args += ["--deselect", test]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=clock_ahead_env(400),
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = run.stdout[-3000:]
    print(tail.splitlines()[-1] if tail else run.stderr[-500:])
    assert run.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail
