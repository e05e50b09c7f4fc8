"""A short shift in fast-forward (bench/soak.py): 21 minutes at 60x with the broker down for
the middle third, three camera and two GPS dropouts; every read reaches HQ once. The long run,
with its memory figures: `python bench/soak.py` (12 h at 60x)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.reliability
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


def test_a_short_shift_with_outages_loses_and_duplicates_nothing(tmp_path):
    import soak

    f = soak.run(hours=0.35, speed=60, fps=20, folder=tmp_path, log=lambda *_: None)
    assert f["reads"] >= 5, f
    assert f["reads_lost"] == 0 and f["reads_duplicated"] == 0, f
    assert f["outbox_left_after_next_start"] == 0, f
    assert f["outbox_peak"] >= 1  # the outage really held records back
