"""The daemon's handling of finished passes, with the real recognizer and a real store."""

import numpy as np
import pytest

from alprd.config import load
from alprd.daemon import Daemon
from alprd.track import Pass
from alprd.types import Fix, Observation, PlateRead
from alprd.ui import alert_event
from tests.helpers import key_file

CLINIC = [[34.0, -118.3], [34.0, -118.2], [34.1, -118.2], [34.1, -118.3]]


def make_daemon(tmp_path, zones=()):
    cfg = load(
        None,
        environ={},
        defaults={
            "vehicle": {"unit_id": "T-1"},
            "store": {"path": str(tmp_path / "car.db"), "key_file": str(key_file(tmp_path))},
            "capture": {"no_capture_zones": [{"name": "clinic", "polygon": z} for z in zones]},
        },
    )
    return Daemon(cfg, ui=False)


def a_pass(text="7ABC123", mono=100.0):
    p = Pass("rear", mono, mono)
    crop = np.full((30, 60, 3), 128, np.uint8)
    for i in range(3):
        plate = PlateRead(text, 0.9, tuple([0.9] * len(text)), (10, 10, 70, 40), 0.9)
        p.sightings.append(Observation(plate, "rear", mono + i * 0.1, crop, 10.0))
    return p


@pytest.mark.policy("POL-03")
def test_reads_in_a_no_capture_zone_are_dropped_and_only_counted(tmp_path):
    d = make_daemon(tmp_path, zones=[CLINIC])
    d.gps_track.add(Fix(lat=34.05, lon=-118.25, mono=99.0, quality=1))  # inside
    d.pipeline.finish(a_pass("INSIDE1", 99.5))
    d.gps_track.add(Fix(lat=34.50, lon=-118.25, mono=101.0, quality=1))  # outside
    d.pipeline.finish(a_pass("OUTSID1", 101.0))
    texts = [r["text"] for r in d.store.reads()]
    assert texts == ["OUTSID1"]
    assert d.store.counter("no_capture_zone") == 1
    assert d.store.outbox_depth() == 1  # nothing about the dropped read goes to HQ
    d.store.close()


def test_a_crop_that_will_not_encode_is_counted_apart_from_no_capture_zones(tmp_path, monkeypatch):
    """#35 item 3: a failed JPEG encode is no POL-03 drop; it has its own count and line."""
    import alprd.pipeline

    d = make_daemon(tmp_path)
    monkeypatch.setattr(alprd.pipeline.cv2, "imencode", lambda *a, **k: (False, None))
    d.pipeline.finish(a_pass("7ABC123"))
    assert d.store.reads() == []
    assert d.store.counter("crop_unencodable") == 1 and d.store.counter("no_capture_zone") == 0
    d.store.close()


def test_a_confident_pass_with_no_hit_builds_no_read_before_it_ends(tmp_path, monkeypatch):
    """#35 item 3: the early alert's check matches the pass's text first; a pass that hits
    nothing costs no JPEG encode (nor clock stamp) per frame. One that hits alerts early."""
    import alprd.pipeline
    from alprd.hotlist import Hotlist
    from alprd.types import HotlistEntry

    d = make_daemon(tmp_path)
    d.pipeline.states = None
    d.pipeline.hotlist = Hotlist([HotlistEntry("8XYZ442", None, "stolen_vehicle", "x")])
    real, calls = alprd.pipeline.cv2.imencode, []
    monkeypatch.setattr(
        alprd.pipeline.cv2, "imencode", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    crop = np.full((30, 60, 3), 128, np.uint8)
    for text in ("7ABC123", "8XYZ442"):
        for i in range(6):
            plate = PlateRead(text, 0.95, (0.95,) * 7, (10, 10, 70, 40), 0.9)
            p = d.pipeline.tracker.add(  # a camera each: the two passes never merge
                Observation(plate, text, 100.0 + i * 0.1, crop, 10.0)
            )
            d.pipeline.maybe_alert_early(p)
        if text == "7ABC123":
            assert calls == [] and d.alerts.current() == []
    assert len(calls) == 1 and len(d.alerts.current()) == 1  # one early alert, one encode
    d.store.close()


def test_zone_config_rejects_bad_coordinates(tmp_path):
    from alprd.config import ConfigError

    with pytest.raises(ConfigError, match="not a \\[lat, lon\\]"):
        make_daemon(tmp_path, zones=[[[134.0, -118.3], [34.0, -118.2], [34.1, -118.2]]])


@pytest.mark.policy("POL-01")
def test_read_records_position_time_and_source(tmp_path):
    d = make_daemon(tmp_path)
    d.gps_track.add(Fix(lat=34.0, lon=-118.0, mono=100.0, quality=2))
    d.gps_track.add(Fix(lat=34.001, lon=-118.0, mono=101.0, quality=2))
    d.pipeline.finish(a_pass("POS0001", 100.4))
    r = d.store.reads()[0]
    row = (r["lat"], r["lon"], r["fix_quality"], r["time_source"], r["unit_id"], r["frames"])
    # the best sighting (the first of three equals, at 100.4) gets the interpolated position
    assert row[0] == pytest.approx(34.0004) and row[1] == pytest.approx(-118.0)
    assert row[2:] == (2, "system", "T-1", 3)
    d.store.close()


def test_confident_pass_alerts_early_and_only_once(tmp_path):
    from alprd.hotlist import Hotlist
    from alprd.types import HotlistEntry

    d = make_daemon(tmp_path)
    d.pipeline.hotlist = Hotlist([HotlistEntry("8XYZ442", "CA", "stolen_vehicle", "test")])
    q, _ = d.bus.subscribe()
    crop = np.full((30, 60, 3), 128, np.uint8)
    p = None
    for i in range(6):
        plate = PlateRead("8XYZ442", 0.95, (0.95,) * 7, (10, 10, 70, 40), 0.9)
        p = d.pipeline.tracker.add(Observation(plate, "rear", 100 + i * 0.1, crop, 10.0))
        d.pipeline.maybe_alert_early(p)
        if i == 1:
            assert q.empty()  # two sightings are not enough
    early = q.get_nowait()
    assert early["type"] == "alert" and early["id"] == p.id and q.empty()
    for done in d.pipeline.tracker.expire(200.0):
        d.pipeline.finish(done)
    final = q.get_nowait()
    assert final["type"] == "hit" and final["id"] == early["id"]
    update = q.get_nowait()  # the same alert, updated with the final read: not a second one
    assert update["type"] == "alert" and update["hit_id"] == early["hit_id"] and q.empty()
    assert len(d.alerts.current()) == 1
    assert d.store.count("reads") == 1 and d.store.count("hits") == 1
    d.store.close()


def test_unsure_pass_waits_for_its_end(tmp_path):
    from alprd.hotlist import Hotlist
    from alprd.types import HotlistEntry

    d = make_daemon(tmp_path)
    d.pipeline.hotlist = Hotlist([HotlistEntry("8XYZ442", None, "bolo", "test")])
    q, _ = d.bus.subscribe()
    crop = np.full((30, 60, 3), 128, np.uint8)
    for i in range(5):
        plate = PlateRead("8XYZ442", 0.6, (0.6,) * 7, (10, 10, 70, 40), 0.9)
        p = d.pipeline.tracker.add(Observation(plate, "rear", 100 + i * 0.1, crop, 1.0))
        d.pipeline.maybe_alert_early(p)
    assert q.empty()
    for done in d.pipeline.tracker.expire(200.0):
        d.pipeline.finish(done)
    assert q.get_nowait()["type"] == "hit"
    d.store.close()


def test_a_hit_on_a_full_disk_is_still_shown_to_the_officer(tmp_path):
    """(#23, item 10) Before, record() returned on the store's error before opening the
    alert: on a full disk the officer never saw the hit."""
    from alprd.hotlist import Hotlist
    from alprd.types import HotlistEntry

    d = make_daemon(tmp_path)
    d.pipeline.hotlist = Hotlist([HotlistEntry("8XYZ442", "CA", "stolen_vehicle", "test")])
    d.alerts.repeat_suppress_s = 0  # the same plate pass after pass until the disk fills
    q, _ = d.bus.subscribe()
    d.gps_track.add(Fix(lat=34.0, lon=-118.0, mono=99.0, quality=1))
    d.pipeline.finish(a_pass("7ABC123", 99.5))  # fills the last free pages
    pages = d.store.db.conn.execute("PRAGMA page_count").fetchone()[0]
    d.store.db.conn.execute(f"PRAGMA max_page_count={pages}")  # the disk is now full
    for i in range(30):  # until a write fails (a page may still have room for one)
        d.pipeline.finish(a_pass("8XYZ442", 100.0 + i))
        if d.pipeline.dropped_reads:
            break
    assert d.pipeline.dropped_reads == 1
    (alert,) = [alert_event(a) for a in d.alerts.current() if a.not_stored]
    assert alert["hits"][0]["plate"] == "8XYZ442" and alert["type"] == "alert"
    events = []
    while not q.empty():
        events.append(q.get_nowait())
    assert any(e["type"] == "alert" and e.get("not_stored") for e in events)
    d.store.close()


def test_a_hotlist_that_fails_to_match_costs_the_hits_not_the_read(tmp_path, caplog):
    """The early check and the pass's end both go through Pipeline._match: a matcher that
    raises is said in one line, the frame loop goes on, the read is stored without hits."""

    class Broken:
        def match(self, *a, **k):
            raise RuntimeError("index corrupt")

    d = make_daemon(tmp_path)
    d.pipeline.states = None
    d.pipeline.hotlist = Broken()
    crop = np.full((30, 60, 3), 128, np.uint8)
    for i in range(4):
        plate = PlateRead("7ABC123", 0.95, (0.95,) * 7, (10, 10, 70, 40), 0.9)
        p = d.pipeline.tracker.add(Observation(plate, "rear", 100.0 + i * 0.1, crop, 10.0))
        d.pipeline.maybe_alert_early(p)  # does not raise
    d.pipeline.expire(1e6)
    assert [r["text"] for r in d.store.reads()] == ["7ABC123"]
    assert d.store.outbox_depth() == 1  # the read; no hit
    assert "matching 7ABC123 failed (RuntimeError: index corrupt)" in caplog.text
    d.store.close()
