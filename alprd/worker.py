"""A stage that runs on its own thread and can be asked to stop."""
from __future__ import annotations

import threading
from collections import deque


class Worker:
    """Subclasses implement _run() and check self._stop (an Event) often."""

    def __init__(self, name: str) -> None:
        self.state = "starting"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class DropOldestQueue:
    """A bounded queue that drops the oldest item when full, and counts the drops: a
    producer (a camera, paho's network thread) never waits on its consumer."""

    def __init__(self, size: int) -> None:
        self._q: deque = deque()
        self._size = size
        self._cv = threading.Condition()
        self.dropped = 0

    def put(self, item) -> None:
        with self._cv:
            if len(self._q) >= self._size:
                self._q.popleft()
                self.dropped += 1
            self._q.append(item)
            self._cv.notify()

    def get(self, timeout: float):
        """The oldest item, or None when none came within timeout seconds."""
        with self._cv:
            if not self._q:
                self._cv.wait(timeout)
            return self._q.popleft() if self._q else None

    def __len__(self) -> int:
        return len(self._q)
