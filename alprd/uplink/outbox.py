"""What the uplink needs of the car's store: the outbox it drains. The store's OutboxStore
(alprd/store/outbox.py) is one; a test or another back end can be another. The uplink never
imports alprd.store (an import contract in pyproject.toml)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol


class Record(Protocol):
    """A record waiting for HQ (alprd.store.OutboxItem)."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def body(self) -> dict[str, Any]: ...


class Outbox(Protocol):
    def pending(self, limit: int, exclude: Collection[str] = ...) -> Sequence[Record]:
        """Unacknowledged records, most urgent first, none of those in exclude."""
        ...

    def acknowledge(self, ids: list[str]) -> int:
        """HQ has these records: they leave the outbox. Returns how many were pending."""
        ...

    def outbox_depth(self) -> int:
        """How many records wait for HQ."""
        ...

    def report_breach(self, reason: str) -> str:
        """Queue a breach report for HQ (POL-14); returns its id."""
        ...
