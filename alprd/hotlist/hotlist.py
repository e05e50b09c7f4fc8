"""The hotlist: entries from HQ, matched against each read, exactly and by look-alikes.

The list comes signed from HQ (sync.py) or from a local CSV file (csvfile.py); matching is
index.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from alprd.hotlist.csvfile import HotlistError, read_csv
from alprd.hotlist.index import DEFAULT_CONFUSIONS, Index
from alprd.hotlist.matcher import Match, Matcher
from alprd.types import HotlistEntry

if TYPE_CHECKING:
    from alprd.config import HotlistConfig

log = logging.getLogger(__name__)


class Hotlist:
    """The vehicle's list and its matching rules; replace() swaps the whole list atomically."""

    def __init__(
        self,
        entries: list[HotlistEntry] | None = None,
        *,
        max_substitutions: int = 1,
        one_off: bool = False,
        confusions: Iterable[str] = DEFAULT_CONFUSIONS,
        state_mismatch: str = "alert",
        skip: tuple[str, ...] = (),
        min_probability: float = 0.1,
    ) -> None:
        self.confusions = tuple(confusions)
        self.matcher = Matcher(
            Index.build([], self.confusions),
            max_substitutions,
            one_off,
            state_mismatch,
            tuple(skip),
            min_probability=min_probability,
        )
        if entries:
            self.replace(entries)

    @classmethod
    def from_config(cls, cfg: HotlistConfig) -> Hotlist:
        """The matcher as configured, with the entries of cfg.path (a CSV) when set; a file
        that cannot be used leaves the list empty and says why."""
        hotlist = cls(
            max_substitutions=cfg.max_substitutions,
            one_off=cfg.one_off,
            confusions=cfg.confusions,
            state_mismatch=cfg.state_mismatch,
            skip=tuple(cfg.skip),
            min_probability=cfg.nbest_min_probability,
        )
        if getattr(cfg, "path", None):
            try:
                hotlist.replace(read_csv(Path(cfg.path)))
                log.info("hotlist: %d entries from %s", len(hotlist), cfg.path)
            except HotlistError as exc:
                log.error("hotlist: %s; running with an empty list", exc)
        return hotlist

    def replace(self, entries: list[HotlistEntry], version: int = 0) -> None:
        self.matcher.swap(Index.build(entries, self.confusions, version))

    def __len__(self) -> int:
        return len(self.matcher.index)

    def match(
        self,
        text: str,
        state: str | None = None,
        now: float | None = None,
        candidates: tuple[tuple[str, float], ...] = (),
    ) -> list[Match]:
        """Entries this read hits, best first, each saying which rule matched. now: the
        read's time (UTC epoch seconds) against which entries expire; the car passes its
        trusted time, not the system clock, which may run far ahead of GPS (#32 item 13).
        candidates: the read's most probable texts (Matcher.match)."""
        return self.matcher.match(text, state, now, candidates)
