"""What HQ's code asks of its record store, whichever back end holds it: HqStore (SQLite,
alprd/hq/records.py) and PgStore (PostgreSQL, alprd/hq/pgrecords.py) both are one; open_store()
returns one, and mypy holds both classes to it. Records arrive as the cars send them (up.v1)
and leave only by POL-09's schedule; every search by a person is logged (POL-17)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from alprd.hq.keys import load_index_key
from alprd.hq.schema import Batch
from alprd.hq.sealing import BodySealer, body_keys_path, load_body_keys


class RecordStore(Protocol):
    backend: str  # what the store runs on, as HQ's start-up line says it

    # -- what the cars send (alprd.hq.endpoint) --------------------------------------------
    def add(
        self, unit: str, records: list[dict[str, Any]], status: dict[str, Any] | None = None
    ) -> list[str]:
        """Store one car's records; the ids refused (schema, identity)."""
        ...

    def add_many(self, batches: list[Batch]) -> list[list[str]]:
        """Several cars' up messages in one transaction; each one's refused ids."""
        ...

    def count(self, kind: str | None = None) -> int: ...

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        """Every stored body of a kind, opened (HQ's tools; people search with search())."""
        ...

    def refused(self) -> list[dict[str, Any]]: ...

    def units(self) -> list[dict[str, Any]]:
        """Each car as HQ last heard of it (the fleet view)."""
        ...

    # -- searches (POL-02, POL-17) ---------------------------------------------------------
    def search(
        self,
        username: str,
        role: str,
        purpose: str,
        plate: str,
        include_deleted: bool = False,
        ground: str | None = None,
        request_ref: str | None = None,
        now: datetime | None = None,
        state: str | None = None,
    ) -> list[dict[str, Any]]: ...

    def visible_ids(self, role: str) -> set[str]: ...

    def access_log(self) -> list[dict[str, Any]]: ...

    # -- retention and legal holds (POL-09) ------------------------------------------------
    def apply_retention(self, now: datetime) -> tuple[int, int]:
        """(flagged for logical deletion, deleted for good)."""
        ...

    def place_hold(self, ref: str, reason: str, record_ids: list[str], now: datetime) -> None: ...

    def release_hold(self, ref: str, now: datetime) -> None: ...

    def review_hold(self, ref: str, now: datetime) -> None: ...

    def holds_due_for_review(self, now: datetime) -> list[str]: ...

    # -- what HQ publishes (hotlists, rosters) ---------------------------------------------
    def next_version(self, kind: str, candidate: int) -> int: ...

    def last_hotlist(self) -> tuple[int, list[dict[str, Any]], bool] | None: ...

    def save_hotlist(self, version: int, entries: list[dict[str, Any]], snapshot: bool) -> None: ...

    def save_roster(self, version: int, users: list[dict[str, Any]]) -> None: ...

    def log_sign_in_refused(self, username: str, why: str, now: datetime) -> None: ...

    def body_of(
        self, unit: str, kind: str, rid: str, include_deleted: bool = False
    ) -> dict[str, Any] | None: ...

    def log_access(
        self,
        now: datetime,
        username: str,
        role: str,
        action: str,
        purpose: str | None,
        query: dict[str, Any],
        count: int | None,
        refused: str | None = None,
    ) -> None: ...

    def sign_ins_refused_since(self, username: str, since: datetime) -> int: ...

    def last_roster(self) -> tuple[int, list[dict[str, Any]]] | None:
        """(version, users) of the last roster published: HQ's operators sign in with it."""
        ...

    # -- keys -------------------------------------------------------------------------------
    def reseal(self) -> int:
        """Seal every stored body under the newest body key; how many were resealed."""
        ...

    def close(self) -> None: ...


def open_store(
    target: Path | str, index_key: Path | None = None, body_keys: Path | None = None
) -> RecordStore:
    """HQ's store: a postgresql:// URL (PostgreSQL, psycopg 3) or a SQLite file path.
    index_key: the plate index key file (default: TARGET.index-key for SQLite, else
    hq-index.key in the working folder); body_keys: the body key ring (default:
    TARGET.body-keys for SQLite, else hq-body.keys in the working folder); made on first use."""
    text = str(target)

    def ring() -> BodySealer:
        return load_body_keys(body_keys_path(target, body_keys))

    if text.startswith(("postgresql://", "postgres://")):
        from alprd.hq.pgrecords import PgStore  # psycopg: imported only for PostgreSQL

        return PgStore(text, lambda: load_index_key(Path(index_key or "hq-index.key")), ring)
    from alprd.hq.records import HqStore

    return HqStore(
        Path(text), (lambda: load_index_key(Path(index_key))) if index_key else None, ring
    )


def open_for(command: str, db: str, index_key: str | None) -> RecordStore | None:
    """HQ's store for a console command (`alprd hq status`, `search`, ...), or None once it
    has said in one line why not (a SQLite file that is not there is not made)."""
    import sys

    if "://" not in db and not Path(db).exists():
        print(f"hq {command}: no HQ database at {db} (give --db)", file=sys.stderr)
        return None
    try:
        return open_store(db, Path(index_key) if index_key else None)
    except Exception as exc:  # noqa: BLE001  one line for the operator
        print(f"hq {command}: cannot open {db}: {exc}", file=sys.stderr)
        return None
