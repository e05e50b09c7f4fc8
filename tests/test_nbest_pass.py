"""#34 items 2-3 in the daemon: a pass whose frames doubted a character alerts on the want
the doubt points at (rule n-best, with the text and how probable the pass found it), on the
officer's card, the console and the uplinked hit; a doubt of one frame in four does not."""

from __future__ import annotations

import numpy as np

from alprd.hotlist import Hotlist
from alprd.pipeline import format_read
from alprd.protocol.schemas import validate
from alprd.types import HotlistEntry, Observation, PlateRead
from alprd.ui import alert_event
from tests.test_daemon import make_daemon

BOX = (100, 200, 340, 320)
WANT = HotlistEntry("8XYZ442", "CA", "stolen_vehicle", "Stolen 11/26", 1, "V1")
CROP = np.full((40, 120, 3), 200, np.uint8)


def daemon(tmp_path):
    d = make_daemon(tmp_path)
    d.pipeline.hotlist = Hotlist([WANT])  # the shipped rules: O/0, I/1, candidates from 0.1
    d.pipeline.states = None  # the state is #33's; here every pass is stored at once
    return d


def pass_of(d, doubts):
    """A pass read BXYZ442 in each frame; doubts[i]: how probable frame i found 8XYZ442."""
    for i, p8 in enumerate(doubts):
        cands = (("BXYZ442", round(0.95 - p8, 4)),) + ((("8XYZ442", p8),) if p8 else ())
        plate = PlateRead("BXYZ442", 0.8, (0.6,) + (0.85,) * 6, BOX, 0.9, cands)
        d.pipeline.tracker.add(Observation(plate, "rear", 100.0 + i * 0.1, CROP, 50.0))
    d.pipeline.expire(1e6)


def test_a_doubt_the_frames_share_alerts_on_the_want_it_points_at(tmp_path):
    d = daemon(tmp_path)
    try:
        pass_of(d, [0.3, 0.25, 0.35, 0.3])  # every frame: B, or perhaps 8 (30 % on average)
        (read,) = d.store.reads()
        assert read["text"] == "BXYZ442"  # the read stays what the readers read
        (hit,) = [item.body for item in d.store.pending(100) if item.kind == "hit"]
        validate("hit", hit)
        assert (hit["plate"], hit["rule"], hit["differs"]) == ("8XYZ442", "n-best", [0])
        assert hit["candidate"] == "8XYZ442" and abs(hit["candidate_probability"] - 0.3) < 1e-6
        (alert,) = map(alert_event, d.alerts.current())  # the card: read, entry, differs
        (shown,) = alert["hits"]
        assert alert["text"] == "BXYZ442" and shown["plate"] == "8XYZ442"
        assert shown["rule"] == "n-best" and shown["differs"] == [0]
        assert abs(shown["candidate_probability"] - 0.3) < 1e-6
    finally:
        d.store.close()


def test_one_frame_in_four_doubting_is_no_alert(tmp_path):
    d = daemon(tmp_path)
    try:
        pass_of(d, [0.3, 0, 0, 0])  # the pass's mean: 0.075, under 0.1
        assert len(d.store.reads()) == 1
        assert [i for i in d.store.pending(100) if i.kind == "hit"] == []
        assert d.alerts.current() == []
    finally:
        d.store.close()


def test_the_console_line_says_which_text_hit_and_how_likely():
    from alprd.types import Hit
    from tests.helpers import make_read

    read = make_read("BXYZ442")
    hit = Hit(
        "h1",
        read.id,
        WANT,
        "n-best",
        read.utc,
        (0,),
        "read-state-unknown",
        candidate="8XYZ442",
        candidate_probability=0.3,
    )
    line = format_read(read, [hit])
    assert "(n-best: 8XYZ442 30% likely)" in line and "UNVERIFIED" in line
