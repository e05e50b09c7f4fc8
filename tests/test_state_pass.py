"""#33: the state is read once a pass, beside the frame loop, by PaddleOCR's recogniser (the
real model, on a plate drawn here: NEVADA above the registration, HOME MEANS NEVADA below);
the read and its hits carry it with its confidence; the hotlist's state rule flags a want of
another state or, where the agency says so, rules it out; an early alert is updated when the
state comes, and never shown for a want the state rules out."""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np
import pytest

from alprd.config import load
from alprd.daemon import Daemon
from alprd.hotlist import Hotlist
from alprd.pipeline import STATE_WAIT_S
from alprd.protocol.schemas import validate
from alprd.recognize.recognizer import crop_plate
from alprd.recognize.state_worker import StateWorker
from alprd.types import HotlistEntry, Observation, PlateRead
from alprd.ui import alert_event
from tests.helpers import key_file

BOX = (100, 200, 340, 320)  # the plate's box in the frame
TEXT = "8XYZ442"


def nevada_plate() -> np.ndarray:
    """A frame with a Nevada plate at BOX (black on light grey, its state in red)."""
    plate = np.full((120, 240, 3), 235, np.uint8)
    cv2.putText(
        plate, "NEVADA", (62, 32), cv2.FONT_HERSHEY_DUPLEX, 1.0, (40, 40, 160), 2, cv2.LINE_AA
    )
    cv2.putText(plate, TEXT, (22, 82), cv2.FONT_HERSHEY_DUPLEX, 1.6, (20, 20, 20), 3, cv2.LINE_AA)
    cv2.putText(
        plate,
        "HOME MEANS NEVADA",
        (28, 110),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.55,
        (40, 40, 160),
        1,
        cv2.LINE_AA,
    )
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[BOX[1] : BOX[3], BOX[0] : BOX[2]] = plate
    return frame


@pytest.fixture(scope="module")
def frame():
    return nevada_plate()


def make_daemon(tmp_path, mismatch="alert", entries=()):
    tmp_path.mkdir(exist_ok=True)
    cfg = load(
        None,
        environ={},
        defaults={
            "vehicle": {"unit_id": "T-1"},
            "store": {"path": str(tmp_path / "car.db"), "key_file": str(key_file(tmp_path))},
            "hotlist": {"state_mismatch": mismatch},
        },
    )
    d = Daemon(cfg, ui=False)
    d.pipeline.hotlist = Hotlist(list(entries), state_mismatch=mismatch)
    return d


def see(d, frame, sightings=3, mono=100.0, conf=0.95):
    """The plate seen in `sightings` frames, as the frame loop adds them."""
    crop = crop_plate(frame, BOX)
    p = None
    for i in range(sightings):
        plate = PlateRead(TEXT, conf, (conf,) * len(TEXT), BOX, 0.9)
        p = d.pipeline.tracker.add(Observation(plate, "rear", mono + i * 0.1, crop, 50.0))
        d.pipeline.maybe_alert_early(p)
    return p


def until_stored(d, now=200.0, timeout=30.0):
    """Turn the loop (expire at `now`) until the pass is stored; the state reader answers
    in about 60 ms here, a few seconds on a busy CI machine."""
    end = time.monotonic() + timeout
    while not d.store.reads() and time.monotonic() < end:
        d.pipeline.expire(now)
        d.states.wait(0.05)
    return d.store.reads()


def outbox(d, kind):
    """The bodies of a kind waiting for HQ, as the uplink will send them."""
    return [item.body for item in d.store.pending(100) if item.kind == kind]


def test_a_read_carries_the_state_read_once_off_its_best_crop(tmp_path, frame):
    d = make_daemon(tmp_path)
    d.states.start()
    try:
        see(d, frame)
        d.pipeline.expire(200.0)
        assert d.store.reads() == []  # the pass waits for its state, not the frame loop
        (read,) = until_stored(d)
        assert read["text"] == TEXT and read["state"] == "NV"
        assert 0.9 <= read["state_confidence"] <= 1.0
        assert d.states.read == 1  # once a pass, not once a frame
        seen = d.health()["state_reader"]  # what the technician sees on /health
        assert seen["state"] == "running" and seen["read"] == 1 and seen["ms_median"] > 0
        (body,) = outbox(d, "read")
        validate("read", body)
        assert (body["state"], body["state_confidence"]) == ("NV", read["state_confidence"])
    finally:
        d.states.stop()
        d.store.close()


def test_a_want_of_another_state_is_flagged_by_default(tmp_path, frame):
    d = make_daemon(tmp_path, entries=[HotlistEntry(TEXT, "CA", "stolen_vehicle", "test")])
    d.states.start()
    try:
        see(d, frame, sightings=1)  # not enough for an early alert
        until_stored(d)
        (hit,) = outbox(d, "hit")
        validate("hit", hit)
        assert hit["state_rule"] == "state-mismatch" and hit["state"] == "CA"
        assert hit["read_state"] == "NV" and hit["read_state_confidence"] >= 0.9
        (alert,) = map(alert_event, d.alerts.current())
        assert alert["state"] == "NV" and alert["hits"][0]["state_rule"] == "state-mismatch"
    finally:
        d.states.stop()
        d.store.close()


def test_a_want_of_another_state_is_ruled_out_where_the_agency_says_so(tmp_path, frame):
    """hotlist.state_mismatch = "ignore": the same pass, no hit, no alert, not even an early
    one (the confident pass waits for its state before alerting); the read is stored. A want
    of the same plate in Nevada still alerts."""
    d = make_daemon(tmp_path, "ignore", [HotlistEntry(TEXT, "CA", "stolen_vehicle", "test")])
    q, _ = d.bus.subscribe()
    d.states.start()
    try:
        see(d, frame, sightings=5)  # confident: would alert early
        (read,) = until_stored(d)
        assert read["state"] == "NV"
        assert outbox(d, "hit") == [] and d.alerts.current() == []
        events = []
        while not q.empty():
            events.append(q.get_nowait())
        assert [ev["type"] for ev in events] == ["read"]  # no alert, early or late
    finally:
        d.states.stop()
        d.store.close()
    d = make_daemon(tmp_path / "nv", "ignore", [HotlistEntry(TEXT, "NV", "stolen_vehicle", "t")])
    d.states.start()
    try:
        see(d, frame, sightings=5)
        until_stored(d)
        (hit,) = outbox(d, "hit")
        assert hit["state_rule"] == "same" and hit["read_state"] == "NV"
    finally:
        d.states.stop()
        d.store.close()


def test_an_early_alert_is_shown_at_once_and_updated_when_the_state_is_read(tmp_path, frame):
    d = make_daemon(tmp_path, entries=[HotlistEntry(TEXT, "CA", "stolen_vehicle", "test")])
    q, _ = d.bus.subscribe()
    see(d, frame, sightings=3)  # the reader is not running yet: the alert must not wait
    first = q.get_nowait()
    assert first["type"] == "alert" and first["state_pending"] is True
    assert first["state"] is None and first["hits"][0]["state_rule"] == "read-state-unknown"
    d.states.start()
    try:
        end = time.monotonic() + 30
        while q.empty() and time.monotonic() < end:
            d.pipeline.expire(100.5)  # the pass is still open
            d.states.wait(0.05)
        update = q.get_nowait()
        assert update["type"] == "alert" and update["hit_id"] == first["hit_id"]
        assert update["state"] == "NV" and "state_pending" not in update
        assert update["hits"][0]["state_rule"] == "state-mismatch"
        assert len(d.alerts.current()) == 1
        assert d.pipeline.tracker.open  # the frame loop went on; the pass is not over
    finally:
        d.states.stop()
        d.store.close()


def test_without_an_answer_the_read_is_stored_without_its_state(tmp_path, frame, caplog):
    """A reader that never answers (stuck, or its question dropped in a burst): the read is
    stored STATE_WAIT_S after the pass ended, state null, and the hotlist says so."""
    d = make_daemon(tmp_path, entries=[HotlistEntry(TEXT, "CA", "stolen_vehicle", "test")])
    see(d, frame, sightings=1)  # the worker is never started
    d.pipeline.expire(200.0)
    assert d.store.reads() == []
    with caplog.at_level(logging.WARNING):
        d.pipeline.expire(200.0 + STATE_WAIT_S)
    (read,) = d.store.reads()
    assert read["state"] is None and read["state_confidence"] is None
    assert outbox(d, "hit")[0]["state_rule"] == "read-state-unknown"
    assert "no answer for a pass" in caplog.text and d.pipeline.unstated == 1
    d.store.close()


def test_a_reader_that_cannot_load_says_so_and_reads_go_on(tmp_path, frame, caplog):
    def missing():
        raise RuntimeError("the rapidocr wheel is not installed")

    d = make_daemon(tmp_path)
    d.states = d.pipeline.states = StateWorker(missing)
    with caplog.at_level(logging.ERROR):
        d.states.start()
        see(d, frame)
        (read,) = until_stored(d)
    assert read["state"] is None and d.states.state == "failed"
    assert "state reader: not loaded (RuntimeError: the rapidocr wheel" in caplog.text
    d.states.stop()
    d.store.close()


def test_a_crop_the_reader_fails_on_is_counted_and_the_next_is_read(tmp_path, frame):
    calls = []

    def reader(crop):
        calls.append(crop.shape)
        if len(calls) == 1:
            raise ValueError("odd crop")
        return "NV", 0.99

    w = StateWorker(lambda: reader)
    w.start()
    try:
        w.ask("a", frame[:10, :10])
        w.ask("b", frame)
        got = {}
        end = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < end:
            w.wait(0.05)
            got.update(w.answers())
        assert got == {"a": (None, None), "b": ("NV", 0.99)} and w.failed == 1
    finally:
        w.stop()


def test_the_state_crop_cut_from_the_stored_crop_is_what_the_frame_would_have_given():
    """The frame is gone when a pass ends: the state's crop (the box and BOX_MARGIN) is cut
    from the stored crop (the box and its wider margins), at the frame's edges too."""
    from alprd.recognize.recognizer import plate_box
    from alprd.recognize.state import BOX_MARGIN

    img = np.random.default_rng(1).integers(0, 255, (480, 640, 3), np.uint8)
    for box in [(100, 200, 260, 260), (0, 0, 50, 20), (600, 460, 640, 480), (7, 3, 99, 41)]:
        for keep in [(0.0, 0.0), BOX_MARGIN, (0.1, 0.18)]:
            assert np.array_equal(
                plate_box(crop_plate(img, box), box, keep), crop_plate(img, box, *keep)
            ), (box, keep)


def test_the_reader_is_loaded_when_a_plate_is_first_seen_not_at_start(tmp_path):
    """A daemon start (and every test that starts one) does not pay for the model's load; the
    first plate in sight loads it while its pass goes on."""
    d = make_daemon(tmp_path)
    d.states.start()
    try:
        d.states.wait(0.5)
        assert d.states.state == "waiting for a first plate"
        d.states.warm()
        end = time.monotonic() + 30
        while d.states.state != "running" and time.monotonic() < end:
            d.states.wait(0.05)
        assert d.states.state == "running" and d.states.read == 0
    finally:
        d.states.stop()
        d.store.close()
