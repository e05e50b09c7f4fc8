"""A stage that runs on its own thread and can be asked to stop (a lifecycle.Part)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from alprd.lifecycle import Heartbeat

log = logging.getLogger(__name__)


class Worker:
    """Subclasses implement _run() and check self._stop (an Event) often; they set
    progress_mono whenever they make real progress (a frame, a sentence, a turn of a queue
    consumer), which is what the watchdog watches."""

    watched = True  # whether the systemd watchdog watches this stage's heartbeat

    def __init__(self, name: str) -> None:
        self.name = name  # the thread's, and the heartbeat's (a camera's says "capture ID")
        self.state = "starting"
        self.progress_mono: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def _main(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001  said in one line; the watchdog sees the rest
            self.state = "failed"
            log.error("%s: stopped by %s: %s", self._thread.name, type(exc).__name__, exc)

    def start(self) -> None:
        self.progress_mono = time.monotonic()
        self._thread.start()

    def heartbeat(self) -> float | None:
        """The monotonic time of the last progress; None once the thread has ended without
        finishing its work (it will make none again). A finished stage (a replay at its end)
        is always fresh."""
        if self.state == "finished":
            return time.monotonic()
        if self._thread.ident is not None and not self._thread.is_alive():
            return None
        return self.progress_mono

    def heartbeats(self) -> dict[str, Heartbeat]:
        return {self.name: self.heartbeat} if self.watched else {}

    def stop(self, timeout_s: float = 0.0) -> bool:
        """Ask the thread to stop; wait at most timeout_s for it. True once it has ended (or
        never started)."""
        self._stop.set()
        self._interrupt()
        if timeout_s > 0:
            self.join(timeout_s)
        return not self._thread.is_alive()

    def _interrupt(self) -> None:
        """Wake the thread from a wait so that it sees the stop at once (a queue's consumer
        overrides this; the others check the stop between short steps)."""

    def join(self, timeout: float) -> None:
        if self._thread.ident is not None:  # a stage never started has nothing to wait for
            self._thread.join(timeout)


class DropOldestQueue:
    """A bounded queue that drops the oldest item when full, and counts the drops: a
    producer (a camera, paho's network thread) never waits on its consumer."""

    def __init__(self, size: int) -> None:
        self._q: deque[Any] = deque()
        self._size = size
        self._cv = threading.Condition()
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._cv:
            if len(self._q) >= self._size:
                self._q.popleft()
                self.dropped += 1
            self._q.append(item)
            self._cv.notify()

    def get(self, timeout: float) -> Any:
        """The oldest item, or None when none came within timeout seconds."""
        with self._cv:
            if not self._q:
                self._cv.wait(timeout)
            return self._q.popleft() if self._q else None

    def wake(self) -> None:
        """End a consumer's wait in get() now (it returns None): at stop."""
        with self._cv:
            self._cv.notify_all()

    def __len__(self) -> int:
        return len(self._q)
