import threading
import time

import cv2
import numpy as np

from alprd import demo
from alprd.capture import Camera, CameraError, FrameQueue
from alprd.capture.replay import ReplaySource
from alprd.config import CameraConfig
from alprd.types import Frame


def frame(i):
    return Frame("cam", np.zeros((2, 2, 3), np.uint8), float(i), i)


def test_full_queue_drops_the_oldest_and_counts():
    q = FrameQueue(3)
    for i in range(5):
        q.put(frame(i))
    assert q.dropped == 2
    assert [q.get(0).seq for _ in range(3)] == [2, 3, 4]
    assert q.get(0) is None


def test_replay_of_the_demo_clip_delivers_every_frame_with_detect_stream():
    src = ReplaySource(demo.CLIP, fps=1000, detect_width=640)
    src.open()
    n = 0
    while (got := src.read()) is not None:
        full, low = got
        assert full.shape == (720, 1280, 3) and low.shape == (360, 640, 3)
        n += 1
    src.close()
    import json

    assert n == json.loads(demo.PASSES.read_text())["frames"]


def test_image_folder_replay_skips_unreadable_files(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "b.jpg").write_bytes(b"broken")
    cv2.imwrite(str(tmp_path / "c.png"), np.zeros((10, 10, 3), np.uint8))
    src = ReplaySource(tmp_path)
    src.open()
    got = [src.read() for _ in range(3)]
    assert got[0] is not None and got[1] is not None and got[2] is None


def test_missing_source_is_a_camera_error(tmp_path):
    src = ReplaySource(tmp_path / "nope.mp4")
    try:
        src.open()
    except CameraError as exc:
        assert "not found" in str(exc)
    else:
        raise AssertionError("no error")


class Flaky:
    """A source that fails to open twice, then delivers frames: a camera plugged back in."""

    opens = 0

    def __init__(self, spec):
        pass

    def open(self):
        Flaky.opens += 1
        if Flaky.opens <= 2:
            raise CameraError("unplugged")

    def read(self):
        time.sleep(0.01)
        return np.zeros((4, 4, 3), np.uint8), None

    def close(self):
        pass


def test_camera_reconnects_after_failures():
    q = FrameQueue(2)
    cam = Camera(CameraConfig(id="rear", source="x"), q, reconnect_max_s=1, factory=Flaky)
    cam.start()
    got = threading.Event()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not got.is_set():
        if q.get(0.1) is not None:
            got.set()
    cam.stop()
    cam.join(2)
    assert got.is_set() and Flaky.opens == 3 and cam.state == "running"
