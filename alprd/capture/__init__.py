"""Cameras: backends behind one interface, each run by a thread that never blocks on recognition.

Cameras and the frame queue: camera.py; backends: opencv.py, picam.py, replay.py.
"""

from alprd.capture.camera import Camera, CameraError, FrameQueue, Source, make_source

__all__ = ["Camera", "CameraError", "FrameQueue", "Source", "make_source"]
