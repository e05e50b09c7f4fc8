"""The state of each pass, read on a thread of its own so the frame loop never waits for it.

PaddleOCR's recogniser takes about 60 ms a plate on a 2-core x86 machine and about four
times that on a Pi (train/MODEL_CARD.md): once a pass, on the pass's best crop, it costs the
frame loop nothing when it runs beside it. ask() hands a crop over and returns at once;
answers() gives back what has been read since. The queue is bounded (QUEUE): in a burst of
more passes than that the oldest question is dropped and its pass is stored without its
state when its wait runs out (alprd.pipeline). A reader that cannot be loaded (the rapidocr
wheel missing) or that fails on a crop says so in one line and answers "unknown": the read is
stored all the same, its state null, and the hotlist says read-state-unknown.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from typing import Any, Callable

import numpy as np

from alprd.worker import DropOldestQueue, Worker

# a state reader: the plate's crop -> (state, confidence), either None when unread
ReadState = Callable[[np.ndarray], tuple[str | None, float | None]]

log = logging.getLogger(__name__)

QUEUE = 32  # questions waiting at most (a pass a question)
UNKNOWN: tuple[None, None] = (None, None)
_WARM = object()  # a question that only loads the reader


class StateWorker(Worker):
    """Answers (state, confidence) for each crop it is asked about, on its own thread.

    make_reader builds the reader (a StateReader) on the thread, when the first plate is
    seen (warm()) or the first question comes: a slow model load never holds up the
    daemon's start, and a car that sees no plate never loads it."""

    watched = False  # reads go on without a state; its failure is said on /health

    def __init__(self, make_reader: Callable[[], ReadState]) -> None:
        super().__init__("state reader")
        self.make_reader = make_reader
        self.questions = DropOldestQueue(QUEUE)
        self._answers: list[tuple[str, tuple[str | None, float | None]]] = []
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self.read = self.failed = 0
        self.ms: list[float] = []  # the last 100 reads' times (/health's figure)
        self._warmed = False

    def health(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "read": self.read,
            "failed": self.failed,
            "dropped": self.dropped,
            "ms_median": round(statistics.median(self.ms), 1) if self.ms else None,
        }

    def warm(self) -> None:
        """Load the reader now (a plate is in sight: its pass will ask soon)."""
        if not self._warmed:
            self._warmed = True
            self.questions.put(_WARM)

    def ask(self, key: str, crop: np.ndarray) -> None:
        """Read the state of crop (a plate's box, BGR); its answer comes back under key."""
        self.questions.put((key, crop))

    def answers(self) -> list[tuple[str, tuple[str | None, float | None]]]:
        """The answers read since the last call: (key, (state or None, confidence or None))."""
        with self._lock:
            out, self._answers = self._answers, []
        return out

    def wait(self, timeout: float) -> None:
        """Until an answer is waiting or timeout seconds have passed."""
        with self._done:
            if not self._answers:
                self._done.wait(timeout)

    @property
    def dropped(self) -> int:
        return self.questions.dropped

    def _answer(self, key: str, answer: tuple[str | None, float | None]) -> None:
        with self._done:
            self._answers.append((key, answer))
            self._done.notify_all()

    def _load(self) -> ReadState | None:
        try:
            reader = self.make_reader()
        except Exception as exc:  # noqa: BLE001  no state; the reads go on without it
            log.error(
                "state reader: not loaded (%s: %s); reads are stored with no state",
                type(exc).__name__,
                exc,
            )
            reader = None
        self.state = "running" if reader else "failed"
        return reader

    def _interrupt(self) -> None:
        self.questions.wake()

    def _run(self) -> None:
        self.state, reader, loaded = "waiting for a first plate", None, False
        while not self._stop.is_set():
            self.progress_mono = time.monotonic()
            item = self.questions.get(timeout=0.5)
            if item is None:
                continue
            if not loaded:
                reader, loaded = self._load(), True
            if item is _WARM:
                continue
            key, crop = item
            if reader is None:
                self._answer(key, UNKNOWN)
                continue
            t0 = time.monotonic()
            try:
                answer = reader(crop)
            except Exception as exc:  # noqa: BLE001  one odd crop never stops the reader
                self.failed += 1
                log.error(
                    "state reader: a crop of %s could not be read (%s: %s); %d so far",
                    crop.shape,
                    type(exc).__name__,
                    exc,
                    self.failed,
                )
                answer = UNKNOWN
            self.read += 1
            self.ms = (self.ms + [(time.monotonic() - t0) * 1000])[-100:]
            self._answer(key, answer)
        self.state = "finished"
