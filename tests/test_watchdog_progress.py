"""#23 items 1 and 15: the watchdog watches every camera and every stage's real progress, and
the liveness of every thread, paho's network thread included."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from alprd.capture import Camera, FrameQueue
from alprd.lifecycle import Lifecycle
from alprd.store import Store
from alprd.uplink import Uplink
from alprd.worker import Worker
from tests.helpers import KEY, make_read, wait_for


class Feed:
    """A camera source: frames while `live` is set, then a read that blocks (a hung driver)."""

    def __init__(self, live: threading.Event):
        self.live = live

    def open(self):
        pass

    def read(self):
        while not self.live.is_set():
            time.sleep(0.01)
        time.sleep(0.02)
        return np.zeros((8, 8, 3), np.uint8), None

    def close(self):
        pass


def _camera(cam_id: str, live: threading.Event) -> Camera:
    return Camera(SimpleNamespace(id=cam_id), FrameQueue(4), factory=lambda spec: Feed(live))


def _stalled(beats, stale_after_s: float) -> list[str]:
    now = time.monotonic()
    return [n for n, beat in beats.items() if (t := beat()) is None or now - t > stale_after_s]


def test_one_hung_camera_of_two_stalls_the_watchdog():
    rear_live, front_live = threading.Event(), threading.Event()
    rear_live.set()
    front_live.set()
    rear, front = _camera("rear", rear_live), _camera("front", front_live)
    for c in (rear, front):
        c.start()
    try:
        beats = Lifecycle([rear, front]).heartbeats()
        assert wait_for(lambda: rear.frames > 3 and front.frames > 3, 5)
        assert _stalled(beats, 0.5) == []
        front_live.clear()  # the front camera's driver hangs; the rear one keeps going
        assert wait_for(lambda: _stalled(beats, 0.5) == ["capture front"], 5), _stalled(beats, 0.5)
    finally:
        rear_live.set()
        front_live.set()
        for c in (rear, front):
            c.stop()


class Dies(Worker):
    def _run(self):
        raise RuntimeError("boom")


def test_a_worker_whose_thread_ended_is_stalled_even_with_a_fresh_heartbeat():
    gps = Dies("gps")
    gps.start()
    gps.join(2)
    gps.progress_mono = time.monotonic()  # whatever it last said, its thread is gone
    assert _stalled(gps.heartbeats(), 5) == ["gps"]


def test_gps_progress_is_sentences_not_loop_turns():
    from alprd.gps import GpsReader, GpsTrack

    gps = GpsReader("/nonexistent/port", GpsTrack())
    gps.start()  # the port never opens: the reader loops, reopening, with nothing read
    try:
        time.sleep(1.2)
        assert _stalled(gps.heartbeats(), 1.0) == ["gps"]
    finally:
        gps.stop()


@pytest.fixture
def uplink(broker, tmp_path):
    """A connected uplink and its store."""
    store = Store(tmp_path / "car.db", KEY)
    up = Uplink(broker.url, store, "CAR-1", retry_s=1)
    up.start()
    assert up.connected.wait(10)
    yield up, store
    up.stop()
    store.close()


def test_paho_network_thread_that_ends_is_restarted_and_watched(uplink):
    up, store = uplink
    beats = up.heartbeats()
    assert _stalled(beats, 2) == []
    # paho's network thread ends (a callback exception ends it the same way)
    first = up.client._thread
    up.client.disconnect()
    up.connected.clear()
    # it ends (None), or has already been started again (another thread) by the uplink
    assert wait_for(lambda: up.client._thread is not first, 5)
    # the uplink starts it again, and records flow
    store.add_read(make_read("WDOG001"), [])
    assert wait_for(lambda: up.connected.is_set() and up.sent >= 1, 20), up.sent
    assert _stalled(beats, 2) == []


def test_a_network_thread_that_cannot_be_restarted_stalls_the_watchdog(uplink):
    up, _ = uplink
    up.client.loop_start = lambda: None  # it will not come back
    up.client.disconnect()
    beats = up.heartbeats()
    assert wait_for(lambda: _stalled(beats, 1) == ["mqtt"], 5), _stalled(beats, 1)


def test_a_callback_exception_does_not_end_the_network_thread(broker, tmp_path):
    store = Store(tmp_path / "car.db", KEY)
    up = Uplink(broker.url, store, "WD-3", retry_s=1)

    real = up.client.subscribe
    failures = []

    def subscribe(*a, **kw):
        if len(failures) < 2:
            failures.append(1)
            raise OSError(28, "No space left on device")
        return real(*a, **kw)

    up.client.subscribe = subscribe  # on_connect fails inside paho's thread, twice
    store.add_read(make_read("WDOG003"), [])
    up.start()
    try:  # logged (no thread exception: the autouse guard), then connected and sending
        assert wait_for(lambda: up.connected.is_set() and up.sent >= 1, 20), up.sent
        assert len(failures) == 2
    finally:
        up.stop()
        store.close()
