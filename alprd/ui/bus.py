"""Events for the page: a fan-out to each open page, keeping the last few for a late one."""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any


class EventBus:
    """Fan-out of events to page connections; keeps the last few for a page that joins late,
    and the last car status apart (status events must not push the reads out)."""

    def __init__(self, keep: int = 50) -> None:
        self._subs: list[queue.Queue[Any]] = []
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._status: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def publish(self, event: dict[str, Any]) -> None:
        with self._lock:
            if event.get("type") == "status":
                self._status = event
            else:
                self._recent.append(event)
            for q in self._subs:
                try:
                    q.put_nowait(event)
                except queue.Full:
                    pass  # a stuck page must not hold up the pipeline

    def subscribe(self) -> tuple[queue.Queue[Any], list[dict[str, Any]]]:
        q: queue.Queue[Any] = queue.Queue(maxsize=200)
        with self._lock:
            self._subs.append(q)
            return q, ([self._status] if self._status else []) + list(self._recent)

    def unsubscribe(self, q: queue.Queue[Any]) -> None:
        with self._lock:
            if q in self._subs:
                self._subs.remove(q)
