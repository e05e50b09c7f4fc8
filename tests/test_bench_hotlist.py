"""bench/hotlist.py in its smoke size, so it cannot rot: it prints every figure, the
cancellation's time (#32 item 12: the time lives here, not in a test's assertion) included."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_hotlist_bench_prints_its_figures():
    run = subprocess.run([sys.executable, "bench/hotlist.py", "--entries", "5000",
                          "--reads", "200"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    figures = dict(re.findall(r"^(\w+): ([\d.]+) ", run.stdout, re.M))
    for name in ("build_time", "match_median", "delta_10k_apply", "cancellation_apply"):
        assert name in figures, run.stdout
    assert figures["cancellation_list_entries"] == "5000"
