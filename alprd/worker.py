"""A stage that runs on its own thread and can be asked to stop."""
from __future__ import annotations

import threading


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
