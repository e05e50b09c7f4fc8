"""`alprd compliance`: each policy row (POL-01..POL-19) with the tests that prove it.

Runs the test suite's policy tests (pytest marker `policy`) from a checkout of the repository
and prints, per row, the tests and their results. A row with no test is listed as NOT COVERED.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROWS = {
    "POL-01": "data collected: plate crop, time, place, camera, unit; no scene",
    "POL-02": "use only for the six authorised purposes",
    "POL-03": "no-capture zones",
    "POL-04": "need and right to know: sign-in, roles",
    "POL-05": "deactivated user refused, audited, reported",
    "POL-06": "roles; in-car users cannot change ALPR data",
    "POL-07": "training before access; reorientation after a year",
    "POL-08": "no sharing: data only to the configured HQ over mutual TLS",
    "POL-09": "retention: 2 years logical, 5 years 24 h 1 min permanent, holds",
    "POL-10": "logically deleted data: administrators, justified requests",
    "POL-11": "a hit is not probable cause: verify before a stop",
    "POL-12": "want in error reported; cancellations withdraw alerts",
    "POL-13": "CJIS storage: encrypted at rest, TLS, unprivileged service",
    "POL-14": "breach detection and the count of plates at risk",
    "POL-15": "separated users removed at the next sync",
    "POL-16": "safe defaults that configuration cannot turn off",
    "POL-17": "access records: time, data queried, user, purpose",
    "POL-18": "audit verification and report",
    "POL-19": "self-test and the trouble ticket, Form 11.03.00",
}


def collect(repo: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "policy.json"
        env = dict(os.environ, ALPRD_COMPLIANCE_OUT=str(out))
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-m", "policy", "-p", "no:cacheprovider"],
            cwd=repo,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return json.loads(out.read_text()) if out.exists() else {}


def report(results: dict[str, Any]) -> tuple[str, bool]:
    lines, all_ok = [], True
    for pol, title in ROWS.items():
        tests = {n: r["outcome"] for n, r in results.items() if pol in r["policy"]}
        if not tests:
            state = "NOT COVERED"
        elif all(o == "passed" for o in tests.values()):
            state = f"PASS ({len(tests)} test{'s' if len(tests) > 1 else ''})"
        else:
            state = "FAIL"
            all_ok = False
        lines.append(f"{pol}  {state:<16} {title}")
        lines += [f"        {o:<7} {n}" for n, o in sorted(tests.items())]
    return "\n".join(lines), all_ok
