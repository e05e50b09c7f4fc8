"""Raspberry Pi cameras through picamera2: a full-resolution main stream for crops and a
low-resolution stream to detect on. picamera2 is imported here only (see firmware-notes.md)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from alprd.capture import CameraError


class PiCamera:
    def __init__(self, index: int = 0, detect_width: int = 640) -> None:
        self.index = index
        self.detect_width = detect_width or 640
        self._cam: Any = None  # a Picamera2 (no type information)

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraError(
                "picamera2 is not installed: on Raspberry Pi OS run "
                "'sudo apt install python3-picamera2' and use a venv made with "
                "--system-site-packages"
            ) from exc
        try:
            cam = Picamera2(self.index)
            lores_h = int(self.detect_width * 9 / 16) // 2 * 2
            config = cam.create_video_configuration(
                main={"size": (1920, 1080), "format": "RGB888"},
                lores={"size": (self.detect_width, lores_h), "format": "YUV420"},
            )
            cam.configure(config)
            cam.start()
        except (RuntimeError, IndexError) as exc:
            raise CameraError(
                f"Pi camera {self.index} did not start: {exc}; check the ribbon "
                "cable and 'rpicam-hello --list-cameras'"
            ) from exc
        self._cam = cam

    def read(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        try:
            with self._cam.captured_request() as req:
                full = req.make_array("main")
                yuv = req.make_array("lores")
        except RuntimeError as exc:
            raise CameraError(f"Pi camera {self.index} stopped: {exc}") from exc
        low = cv2.cvtColor(yuv, cv2.COLOR_YUV420p2BGR)
        return full, low  # RGB888 in picamera2 is BGR in memory order

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None
