"""USB (V4L2), RTSP and MJPEG cameras through OpenCV."""

from __future__ import annotations

import cv2
import numpy as np

from alprd.capture import CameraError
from alprd.capture.replay import downscale

# OpenCV's own "[ WARN:0@...] cap_v4l.cpp" lines repeat at every reconnect; the camera's
# CameraError says the same in one line (and the health strip names it), so keep its errors only
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class OpenCvCamera:
    def __init__(self, source: str, detect_width: int = 0) -> None:
        self.source = source
        self.detect_width = detect_width
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        src = (
            int(self.source[len("/dev/video") :])
            if self.source.startswith("/dev/video") and self.source[len("/dev/video") :].isdigit()
            else self.source
        )
        self._cap = cap = cv2.VideoCapture(src)
        if not cap.isOpened():
            raise CameraError(
                f"cannot open camera {self.source}: check the cable, the URL and "
                "that the service user is in the 'video' group"
            )

    def read(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        if self._cap is None:
            raise CameraError(f"camera {self.source} is not open")
        ok, img = self._cap.read()
        if not ok or img is None:
            raise CameraError(f"camera {self.source} stopped delivering frames")
        return img, downscale(img, self.detect_width)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
