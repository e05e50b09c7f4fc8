"""What a frame must be before recognition: BGR, 8 bits, at least a plate's size.

Every shipped camera backend gives BGR uint8, but a new backend, a USB camera in a raw mode
or a replayed file can give grey, BGRA, 16-bit, boolean or empty images; each raised deep in
OpenCV or the detector, and the daemon's loop did not catch it (#32 item 8). as_bgr8 brings
what has a meaning to BGR uint8 and refuses the rest with a FrameRefused that says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MIN_SIDE = 16  # pixels: nothing smaller holds a readable plate


class FrameRefused(ValueError):
    """A frame recognition cannot use; the message says what it was."""


def as_bgr8(image: Any) -> np.ndarray:
    """image as BGR uint8 (grey and BGRA converted, 16-bit scaled, booleans as 0/255)."""
    if not isinstance(image, np.ndarray):
        raise FrameRefused(f"frame is a {type(image).__name__}, not an image array")
    shape = image.shape
    if image.ndim == 3 and shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and shape[2] not in (3, 4)):
        raise FrameRefused(f"frame of shape {shape}: expected height x width (x 3 or 4)")
    if min(shape[:2]) < MIN_SIDE:
        raise FrameRefused(f"frame of {shape[1]}x{shape[0]} pixels is too small")
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise FrameRefused(f"frame of type {image.dtype}: expected 8 or 16-bit integers")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)
