"""Replay a video file or an image folder, at its recorded speed or as fast as possible."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

from alprd.capture import CameraError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def downscale(img: np.ndarray, width: int) -> np.ndarray | None:
    if not width or img.shape[1] <= width:
        return None
    h = round(img.shape[0] * width / img.shape[1])
    return cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA)


class ReplaySource:
    def __init__(
        self, path: Path, fps: float = 0, loop: bool = False, detect_width: int = 0
    ) -> None:
        self.path = Path(path)
        self.fps = fps  # 0 = the file's own rate (image folders: as fast as possible)
        self.loop = loop
        self.detect_width = detect_width
        self._cap: cv2.VideoCapture | None = None
        self._files: list[Path] = []
        self._i = 0
        self._next = 0.0
        self._period = 0.0
        self._pause = threading.Event()  # never set: a monotonic wait, whatever the wall clock

    def open(self) -> None:
        if not self.path.exists():
            raise CameraError(f"replay source not found: {self.path}")
        if self.path.is_dir():
            self._files = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self._files:
                raise CameraError(f"no images in {self.path}")
            self._period = 1.0 / self.fps if self.fps else 0.0
        else:
            self._cap = cap = cv2.VideoCapture(str(self.path))
            if not cap.isOpened():
                raise CameraError(f"cannot open video {self.path}")
            rate = self.fps or cap.get(cv2.CAP_PROP_FPS) or 10.0
            self._period = 1.0 / rate
        self._next = time.monotonic()

    def _pace(self) -> None:
        if self._period:
            delay = self._next - time.monotonic()
            if delay > 0:
                self._pause.wait(delay)
            self._next = max(self._next + self._period, time.monotonic() - self._period)

    def read(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        img = self._read_raw()
        if img is None and self.loop:
            self._rewind()
            img = self._read_raw()
        if img is None:
            return None
        self._pace()
        return img, downscale(img, self.detect_width)

    def _read_raw(self) -> np.ndarray | None:
        if self._cap is not None:
            ok, img = self._cap.read()
            return img if ok else None
        while self._i < len(self._files):
            still = cv2.imread(str(self._files[self._i]))
            self._i += 1
            if still is not None:
                return still
        return None

    def _rewind(self) -> None:
        if self._cap is not None:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self._i = 0

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
