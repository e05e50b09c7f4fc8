"""Every benchmark in its smoke size, so none can rot unnoticed (bench/pipeline.py had: it read
a counter the daemon no longer has). Each must exit 0 and print its figures as
`name: value unit`; the figures themselves are the bench's business, not a test's. The long
soak has its own test (tests/reliability/test_soak.py); what bench/accuracy.py measures is
also checked by tests/test_recognize.py and tests/test_state.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ALPRD_SHARED_DATA", ROOT.parent / "shared" / "data"))

# bench, its smoke arguments, figures it must print
BENCHES = [
    (
        "bench/hotlist.py",
        ["--entries", "5000", "--reads", "200"],
        # #32 item 12: the cancellation's time is measured here, not asserted by a test
        ["build_time", "match_median", "delta_10k_apply", "cancellation_apply"],
    ),
    ("bench/layouts.py", ["--plates", "8"], ["one_line_7_read", "two_line_read"]),
    (
        "bench/passes.py",
        [],
        ["passes_truth", "passes_read", "pass_read_rate", "alert_recall_pass", "false_alerts_pass"],
    ),
    (
        "bench/pipeline.py",
        ["--seconds", "2"],
        ["pipeline_fps_2cams_recorded", "drop_rate_2cams_max", "reads_2cams_max"],
    ),
    ("bench/uplink.py", ["--backlog", "300"], ["drain_rate_crops", "lost_crops"]),
    (
        "bench/fleet.py",
        ["--cars", "5", "--seconds", "2", "--workers", "1", "--search-rows", "500"],
        ["reads_per_s_sustained", "lost", "duplicated", "plate_search_p50_ms"],
    ),
    (
        "bench/model_switch.py",
        ["--frames", "20", "--switches", "1"],
        ["bundle_bytes", "frame_ms_median", "model_switch_gap_ms", "switch_ms_median"],
    ),
    (
        "bench/speed.py",
        ["--frames", "3", "--real-frames", "12"],
        ["median_ms_720p_1thread", "p90_ms_1080p_1thread", "fps_720p_all_cores"],
    ),
    # labelled folders of ../shared/data (skipped, saying so, where they are absent)
    (
        "bench/accuracy.py",
        ["us_e2e_dev", "--limit", "4"],
        ["detection_recall", "false_reads_per_image", "median_ms", "read_rate"],
    ),
    (
        "bench/accuracy.py",
        ["us_plate_crops", "--limit", "8", "--state-box", "detector"],
        ["read_rate_folded", "state_ms_median", "state_correct", "state_wrong", "read_rate"],
    ),
    (
        "bench/alerts.py",
        ["us_e2e_dev", "--limit", "3", "--decoys", "5000", "--pass-frames", "2"],
        [
            "alert_recall",
            "false_alerts_per_1000_reads",
            "false_alerts_expected_per_1000_reads",
            "innocent_neighbour_alert_rate",
            "alert_recall_pass",
            "false_alerts_expected_per_1000_passes",
            "match_ms_p99",
        ],
    ),
    (
        "bench/alerts.py",
        ["us_plate_crops", "--limit", "3", "--decoys", "5000", "--pass-frames", "2"],
        ["alert_recall", "alert_recall_pass"],
    ),
]


@pytest.mark.parametrize(
    "bench, args, names", BENCHES, ids=[" ".join([b[0], *b[1][:1]]) for b in BENCHES]
)
def test_the_bench_runs_and_prints_its_figures(bench, args, names):
    if bench in ("bench/accuracy.py", "bench/alerts.py"):
        if not (SHARED / args[0] / "manifest.jsonl").exists():
            pytest.skip(f"{SHARED / args[0]} is absent (set ALPRD_SHARED_DATA)")
        args = [str(SHARED / args[0]), *args[1:]]
    if bench == "bench/speed.py" and (SHARED / "us_e2e_dev").is_dir():  # and real frames, where
        names = [
            *names,
            "median_ms_real_1thread",
            "p90_ms_real_1thread",  # they are here
            "median_ms_real_1thread_with_state_reader",
            "state_ms_median",
        ]
    run = subprocess.run(
        [sys.executable, bench, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ALPRD_SHARED_DATA": str(SHARED)},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    figures = dict(re.findall(r"^(\w+): (-?[\d.]+)\b", run.stdout, re.M))
    missing = [n for n in names if n not in figures]
    assert not missing, run.stdout[-3000:]
    if bench == "bench/hotlist.py":
        assert figures["cancellation_list_entries"] == "5000"
    if bench in ("bench/uplink.py", "bench/fleet.py"):  # a lost read is a bug, whatever the speed
        assert all(v == "0" for k, v in figures.items() if k.startswith(("lost", "duplicat"))), (
            run.stdout[-2000:]
        )


# a bench/ script with no smoke case above, and why
NOT_SMOKED = {
    "bench/soak.py": "its own test: tests/reliability/test_soak.py runs a short shift",
    "bench/fleet_cars.py": "not a bench: the simulated cars bench/fleet.py runs",
}


def test_every_bench_has_a_smoke_case_or_says_why_not():
    """A bench added without a smoke case would rot unseen (#35 item 8)."""
    on_disk = {f"bench/{p.name}" for p in (ROOT / "bench").glob("*.py")}
    smoked = {bench for bench, _, _ in BENCHES}
    assert on_disk - smoked == set(NOT_SMOKED)
