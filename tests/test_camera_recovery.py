"""A network camera (MJPEG over HTTP, read by OpenCV) that goes away and comes back."""

import time

import cv2
import numpy as np

from alprd.capture import Camera, FrameQueue
from alprd.config import CameraConfig
from alprd.demo.broker import free_port
from alprd.demo.mjpeg import MjpegServer


class MjpegCamera(MjpegServer):
    """An endless MJPEG stream of noise frames on a fixed port until stopped."""

    def __init__(self, port: int, frozen: bool = False):
        rng = np.random.default_rng(0)
        frames = [
            cv2.imencode(
                ".jpg", np.clip(rng.normal(90, 30, (120, 160, 3)), 0, 255).astype(np.uint8)
            )[1].tobytes()
            for _ in range(1 if frozen else 4)
        ]
        super().__init__(port, frames, fps=20)


def frames_arrive(q: FrameQueue, n: int, timeout: float) -> bool:
    got, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline and got < n:
        if q.get(0.2) is not None:
            got += 1
    return got >= n


def test_network_camera_that_disappears_is_recovered():
    port = free_port()
    server = MjpegCamera(port)
    q = FrameQueue(4)
    cam = Camera(
        CameraConfig(id="front", source=f"http://127.0.0.1:{port}/stream.mjpg"),
        q,
        reconnect_max_s=1,
    )
    cam.start()
    try:
        assert frames_arrive(q, 5, 20), f"no frames at first; state {cam.state}"
        server.stop()  # unplugged
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and cam.state == "running":
            q.get(0.2)
        assert cam.state == "reconnecting"
        while q.get(0) is not None:
            pass
        server = MjpegCamera(port)  # plugged back in, same address
        assert frames_arrive(q, 5, 30), f"not recovered; state {cam.state}"
        assert cam.state == "running"
    finally:
        cam.stop()
        server.stop()
        cam.join(5)
