"""Messages from HQ are applied on the inbox's own thread, never on paho's network thread."""

from __future__ import annotations

import threading

from alprd.hotlist import Hotlist
from alprd.hotlist.sync import HotlistSync
from alprd.inbox import QUEUE_SIZE, Inbox
from alprd.ui import EventBus
from tests.helpers import wait_for
from tests.test_hotlist_sync import HQ, snapshot


class WatchedSync(HotlistSync):
    """A real HotlistSync that notes the thread each update was applied on."""

    threads: list[str]

    def apply(self, message):
        self.threads.append(threading.current_thread().name)
        return super().apply(message)


def make_inbox(tmp_path):
    sync = WatchedSync(Hotlist(), HQ.public_key(), tmp_path)
    sync.threads = []
    inbox = Inbox(
        "CAR-1",
        HQ.public_key(),
        sync,
        roster=None,
        auth=None,
        alerts=None,
        bus=EventBus(),
        state_dir=tmp_path,
        run_selftest=lambda **kw: {},
    )
    return inbox, sync


def test_a_hotlist_from_hq_is_applied_on_the_inbox_thread_not_the_callers(tmp_path):
    inbox, sync = make_inbox(tmp_path)
    handle = inbox.handlers("alprd/v1")["alprd/v1/hotlist"]
    inbox.start()
    try:
        handle(snapshot(7))  # what paho's thread does: it returns at once
        assert wait_for(lambda: sync.version == 7, 5)
        assert sync.threads == ["inbox"] and sync.hotlist.match("8XYZ442")
        handle(b"\x00" * 80)  # garbage: refused, one log line, the list stays
        handle(snapshot(8))
        assert wait_for(lambda: sync.version == 8, 5) and sync.refused == 1
    finally:
        inbox.stop()
        inbox.join(2)


def test_a_full_inbox_drops_the_oldest_message_and_counts_it(tmp_path):
    inbox, sync = make_inbox(tmp_path)  # not started: nothing drains the queue
    handle = inbox.handlers("alprd/v1")["alprd/v1/hotlist"]
    for v in range(1, QUEUE_SIZE + 3):
        handle(snapshot(v))
    assert inbox.pending() == QUEUE_SIZE and inbox.dropped == 2
    inbox.start()
    try:
        assert wait_for(lambda: sync.version == QUEUE_SIZE + 2, 10)
    finally:
        inbox.stop()
        inbox.join(2)


def test_no_message_can_end_the_inbox_thread(tmp_path):
    """(#23, item 1) A message whose handling raises anything (a full disk while saving, a bug)
    costs one log line; the thread goes on with the next message."""
    inbox, sync = make_inbox(tmp_path)
    inbox.start()

    def breaks(message):
        raise OSError(28, "No space left on device")

    try:
        inbox.put(breaks, b"roster")
        inbox.handlers("alprd/v1")["alprd/v1/hotlist"](snapshot(3))
        assert wait_for(lambda: sync.version == 3, 5)
        assert inbox.failed == 1 and inbox._thread.is_alive()
    finally:
        inbox.stop()
        inbox.join(2)
