"""#35 item 4: every part that runs starts in order, is watched by its heartbeats, and stops in
the reverse order within a deadline; one that will not stop is named and the rest stop."""

from __future__ import annotations

import threading

from alprd.lifecycle import Lifecycle
from alprd.worker import Worker


class Recorded:
    """A part that records what happens to it; `hangs` never stops; `breaks` raises."""

    def __init__(self, name: str, log: list[str], hangs: bool = False, breaks: bool = False):
        self.name, self.log, self.hangs, self.breaks = name, log, hangs, breaks

    def start(self) -> None:
        self.log.append(f"start {self.name}")

    def heartbeats(self):
        return {self.name: lambda: 1.0}

    def stop(self, timeout_s: float) -> bool:
        self.log.append(f"stop {self.name} {timeout_s:.1f}")
        if self.breaks:
            raise OSError("socket already closed")
        return not self.hangs


def test_parts_stop_in_reverse_order_and_a_hung_one_does_not_hold_the_rest(caplog):
    log: list[str] = []
    parts = Lifecycle(
        [Recorded("page", log), Recorded("uplink", log), Recorded("camera", log, hangs=True)]
    )
    parts.start()
    assert list(parts.heartbeats()) == ["page", "uplink", "camera"]
    assert parts.stop(within_s=5.0) == ["camera"]
    assert log == [
        "start page",
        "start uplink",
        "start camera",
        "stop camera 2.0",
        "stop uplink 2.0",
        "stop page 2.0",
    ]
    assert "camera: not stopped within 2.0 s" in caplog.text
    assert parts.stop(within_s=5.0) == []  # stopped once: nothing left to stop


def test_a_part_whose_stop_fails_is_named_and_the_rest_stop(caplog):
    log: list[str] = []
    parts = Lifecycle([Recorded("store-writer", log), Recorded("page", log, breaks=True)])
    parts.start()
    assert parts.stop(within_s=5.0) == ["page"]
    assert log[-2:] == ["stop page 2.0", "stop store-writer 2.0"]
    assert "page: stop failed (OSError: socket already closed)" in caplog.text


def test_the_deadline_is_shared_and_a_part_never_started_is_not_stopped():
    log: list[str] = []
    clock = iter([0.0, 0.0, 4.5, 4.5, 9.0]).__next__  # the first stop took 4.5 s of 5
    parts = Lifecycle([Recorded("a", log), Recorded("b", log), Recorded("c", log)])
    parts.started = parts.parts[:2]  # "c" failed to start
    parts.stop(within_s=5.0, mono=clock)
    assert log == ["stop b 2.0", "stop a 0.5"]


class Waits(Worker):
    def _run(self) -> None:
        self._stop.wait()


class Stuck(Worker):
    def _run(self) -> None:
        threading.Event().wait(5)  # ignores the stop request (a driver hung in a read)


def test_a_worker_stops_within_its_timeout_and_says_whether_it_did():
    ok, stuck = Waits("ok"), Stuck("stuck")
    assert ok.stop(1.0)  # never started: nothing to wait for
    ok, stuck = Waits("ok"), Stuck("stuck")
    ok.start()
    stuck.start()
    assert ok.stop(2.0) is True
    assert stuck.stop(0.1) is False
    assert ok.heartbeats().keys() == {"ok"}
