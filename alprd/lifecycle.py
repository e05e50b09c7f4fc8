"""One lifecycle for every part of the daemon that runs on its own (#35 item 4).

A part starts, proves it is alive by its heartbeats (the monotonic time of its last progress,
by name: what the systemd watchdog watches), and stops within a deadline when asked. The daemon
lists its parts once, in start order; they stop in the reverse order, so what feeds another
part stops before it (the cameras before the pass pipeline, which flushes its open passes into
the store; the uplink, which drains the outbox, after everything that writes to it; the page
last). A part that does not stop in time is named in one line and the rest stop all the same:
systemd's TimeoutStopSec= is 10 s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

log = logging.getLogger(__name__)

Heartbeat = Callable[[], "float | None"]  # None: the part's thread has ended
PART_STOP_S = 2.0  # what one part may take to stop (an uplink draining its outbox: more)


class Part(Protocol):
    name: str

    def start(self) -> None: ...

    def heartbeats(self) -> dict[str, Heartbeat]:
        """What the watchdog watches of this part, by name ({} for a part it does not)."""
        ...

    def stop(self, timeout_s: float) -> bool:
        """Stop, waiting at most timeout_s; True once stopped."""
        ...


class Lifecycle:
    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = list(parts)  # in start order
        self.started: list[Part] = []

    def start(self) -> None:
        for part in self.parts:
            part.start()
            self.started.append(part)

    def heartbeats(self) -> dict[str, Heartbeat]:
        beats: dict[str, Heartbeat] = {}
        for part in self.parts:
            beats.update(part.heartbeats())
        return beats

    def stop(self, within_s: float, mono: Callable[[], float] = time.monotonic) -> list[str]:
        """Stop the started parts in reverse order, each within PART_STOP_S and all of them
        within within_s (a part still gets a moment when the time is spent); a part whose
        stop fails is said in one line and the rest stop all the same. Returns the names of
        those that had not stopped."""
        end = mono() + within_s
        late = []
        while self.started:
            part = self.started.pop()
            timeout_s = max(0.1, min(PART_STOP_S, end - mono()))
            try:
                stopped = part.stop(timeout_s)
            except Exception as exc:  # noqa: BLE001  one part's failure stops not the rest
                log.error(
                    "%s: stop failed (%s: %s); stopping the rest",
                    part.name,
                    type(exc).__name__,
                    exc,
                )
                late.append(part.name)
                continue
            if not stopped:
                late.append(part.name)
                log.warning(
                    "%s: not stopped within %.1f s; stopping the rest", part.name, timeout_s
                )
        return late
