"""The vehicle's SQLite store: reads, hits and the durable outbox, in one file.

WAL, synchronous=FULL, one writer (a lock around one connection), versioned migrations
(PRAGMA user_version). A read and its outbox record are written in one transaction, so a
power cut leaves both or neither. Outbox rows are deleted only on HQ's acknowledgement.
Plate texts, crops and outbox records are sealed with AES-256-GCM (store/crypto.py, POL-13):
encryption cannot be turned off.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alprd.store.breach import BreachReports
from alprd.store.crypto import data_key_path, load_key
from alprd.store.reads import ReadStore

if TYPE_CHECKING:
    from alprd.config import StoreConfig


class Store(ReadStore, BreachReports):
    """The one store of a vehicle, by role: db.py (connection, migrations, transactions),
    outbox.py (records for HQ until acknowledged), reads.py (reads, hits, dispositions,
    searches, purge), breach.py (POL-14's reports)."""

    @classmethod
    def from_config(cls, cfg: StoreConfig) -> Store:
        """The store at store.path, sealed with the data key at store.key_file."""
        return cls(Path(cfg.path), load_key(data_key_path(cfg.key_file)))
