"""Cameras: backends behind one interface, each run by a thread that never blocks on recognition.

Backends, chosen by make_source() from the source string: picamera2, OpenCV (USB / RTSP /
MJPEG), and file replay (a video file or an image folder). Hardware imports happen inside the
backend, so this package imports on any machine.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from alprd.types import Frame
from alprd.worker import DropOldestQueue, Worker

if TYPE_CHECKING:
    from alprd.config import CameraConfig, CaptureConfig

log = logging.getLogger(__name__)

STOP_S = 0.5  # what a camera's thread is given to end at shutdown


class CameraError(Exception):
    """A camera cannot be opened or stopped delivering frames."""


class Source(Protocol):
    """A camera backend. read() returns (full, low-res or None), or None at end of stream."""

    def open(self) -> None: ...

    def read(self) -> tuple[np.ndarray, np.ndarray | None] | None: ...

    def close(self) -> None: ...


def make_source(spec: CameraConfig) -> Source:
    """The backend for a CameraConfig's source string."""
    src = spec.source
    if src.startswith("picamera2"):
        from alprd.capture.picam import PiCamera

        index = int(src.partition(":")[2] or 0)
        return PiCamera(index, spec.detect_width)
    if src.startswith(("rtsp://", "http://", "https://")) or src.startswith("/dev/video"):
        from alprd.capture.opencv import OpenCvCamera

        return OpenCvCamera(src, spec.detect_width)
    from alprd.capture.replay import ReplaySource

    return ReplaySource(Path(src), fps=spec.fps, loop=spec.loop, detect_width=spec.detect_width)


class FrameQueue(DropOldestQueue):
    """A camera's frames on their way to recognition: the oldest frame goes when the queue is
    full, and the drops are counted (/health)."""


class Camera(Worker):
    """Runs one source on its own thread; reconnects with backoff; exposes its state."""

    @classmethod
    def from_config(cls, spec: CameraConfig, capture: CaptureConfig, out: FrameQueue) -> Camera:
        return cls(spec, out, capture.reconnect_max_s)

    def __init__(
        self,
        spec: CameraConfig,
        out: FrameQueue,
        reconnect_max_s: float = 30.0,
        factory: Callable[[CameraConfig], Source] = make_source,
    ) -> None:
        super().__init__(f"camera-{spec.id}")
        self.name = f"capture {spec.id}"  # as the watchdog and the logs name it
        self.id = spec.id
        self.spec = spec
        self.out = out
        self.reconnect_max_s = reconnect_max_s
        self.factory = factory
        self.frames = 0
        self.last_frame_mono: float | None = None
        self.why = ""  # why the camera is not running, as its driver said
        self.finished = threading.Event()  # a non-looping replay reached its end

    def health(self) -> dict[str, Any]:
        last = self.last_frame_mono
        return {
            "state": self.state,
            "why": self.why,
            "frames": self.frames,
            "dropped": self.out.dropped,
            "frame_age_s": None if last is None else round(time.monotonic() - last, 1),
        }

    def stop(self, timeout_s: float = 0.0) -> bool:
        """A driver hung in a read may never return: wait at most STOP_S for it, so the
        passes it saw reach the store before systemd's stop timeout (the thread is a daemon
        thread and ends with the process)."""
        return super().stop(min(timeout_s, STOP_S))

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            source = self.factory(self.spec)
            try:
                source.open()
                self._set_state("running")
                backoff = 0.5
                if self._pump(source):
                    self._set_state("finished")
                    self.finished.set()
                    return
            except CameraError as exc:
                self._set_state("reconnecting", str(exc))
            except Exception as exc:  # a backend bug must not kill the thread silently
                log.exception("camera %s: unexpected error", self.id)
                self._set_state("reconnecting", repr(exc))
            finally:
                source.close()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.reconnect_max_s)

    def _pump(self, source: Source) -> bool:
        """Move frames to the queue; True at a clean end of stream."""
        while not self._stop.is_set():
            got = source.read()
            if got is None:
                return True
            full, low = got
            now = time.monotonic()
            self.frames += 1
            self.last_frame_mono = self.progress_mono = now
            self.out.put(Frame(self.id, full, now, self.frames, low))
        return False

    def _set_state(self, state: str, why: str = "") -> None:
        if state != self.state:
            if why:
                log.warning("camera %s: %s (%s)", self.id, state, why)
            else:
                log.info("camera %s: %s", self.id, state)
        self.state, self.why = state, why
