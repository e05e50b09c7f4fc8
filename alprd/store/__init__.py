"""The vehicle's store (SQLite, sealed): see store.py."""

from alprd.store.db import MIGRATIONS, StoreError
from alprd.store.outbox import PRIORITY, OutboxItem
from alprd.store.store import Store

__all__ = ["MIGRATIONS", "PRIORITY", "OutboxItem", "Store", "StoreError"]
