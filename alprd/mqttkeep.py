"""Keeping paho's network thread alive, for the car's uplink and for HQ alike.

paho runs every callback on its one network thread. suppress_exceptions keeps a callback's
Exception from ending it, but a BaseException, or a bug inside paho itself, still does, and
then nothing is received again while the process looks healthy (#32 item 1: a deep-nested
message ended HQ's ingest for the whole fleet). So the owner's loop calls keep() every turn:
a thread that has ended is started again, with a backoff so a thread that keeps dying does
not spin.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

BACKOFF_MAX_S = 10.0


class NetworkKeeper:
    def __init__(
        self,
        client: mqtt.Client,
        connect: Callable[[], None],
        name: str,
        stopping: Callable[[], bool],
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        """connect: calls the client's connect_async with the owner's settings (after
        disconnect(), paho's loop would not connect again without it)."""
        self.client, self.connect, self.name, self.stopping = client, connect, name, stopping
        self.mono = mono
        self.alive_mono: float | None = None  # the thread last seen running
        self.restarts = 0
        self._retry_mono = 0.0
        self._backoff_s = 1.0

    def running(self) -> bool:
        # paho has no public way to ask whether its network thread runs: its own _thread
        # (None once the loop ends) is read here and nowhere else; the thread-death tests in
        # tests/reliability/test_hostile_round3.py fail if a paho release renames it
        t = getattr(self.client, "_thread", None)
        return t is not None and t.is_alive()

    def stop(self) -> None:
        """Stop paho's network thread (the owner has called disconnect(), which ends it).
        paho's loop_stop() checks its thread, then joins it: a thread that ends on its own
        between the two (it sets the attribute to None as it ends, as after a refused
        certificate) makes loop_stop() raise AttributeError. That thread has stopped."""
        try:
            self.client.loop_stop()
        except AttributeError:
            if self.running():
                raise

    def heartbeat(self) -> float | None:
        """Now while the thread runs (or the owner is stopping); else when it was last seen."""
        if self.running() or self.stopping():
            self.alive_mono = self.mono()
        return self.alive_mono

    def connected(self) -> None:
        """A connection is up: the next restart, if any, comes after the shortest wait."""
        self._backoff_s = 1.0

    def keep(self) -> bool:
        """Start the network thread again if it has ended; True when it did so now."""
        now = self.mono()
        if self.running() or self.stopping() or now < self._retry_mono:
            return False
        log.error("%s: paho's network thread had ended; starting it again", self.name)
        self._retry_mono = now + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, BACKOFF_MAX_S)
        try:
            self.connect()
            self.client.loop_start()
        except Exception as exc:  # noqa: BLE001  tried again after the backoff
            log.error("%s: cannot start paho's network thread (%s)", self.name, exc)
            return False
        self.restarts += 1
        return True
