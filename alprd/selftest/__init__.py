"""`alprd selftest`: check every component a fleet technician can fix, in plain words.

The checks: checks.py; the trouble ticket: ticket.py; the self-test inside the running
daemon (the page's button, HQ's command), with its checks of the cameras and GPS it holds:
live.py.
"""

from alprd.selftest.checks import (
    Result,
    as_json,
    check_camera,
    check_clock,
    check_gps,
    check_hotlist,
    check_keys,
    check_models,
    check_storage,
    check_uplink,
    run_all,
    table,
)
from alprd.selftest.live import check_camera_live, check_gps_live, run_live

__all__ = [
    "Result",
    "as_json",
    "check_camera",
    "check_camera_live",
    "check_clock",
    "check_gps",
    "check_gps_live",
    "check_hotlist",
    "check_keys",
    "check_models",
    "check_storage",
    "check_uplink",
    "run_all",
    "run_live",
    "table",
]
