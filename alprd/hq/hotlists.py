"""HQ's hotlists: the import file watched (HotlistWatch publishes it whenever it changes), and
the deltas between two imports (docs/protocol.md, hotlist.delta).

Entries are keyed by (plate, state). An entry whose fields changed is sent again in `add` (it
replaces the one the cars hold); an entry gone from the new import is in `remove`, and the
delta is then a cancellation: the want is no longer in force, so a car withdraws its open
alert for it (POL-12). Versions come from HqStore.next_version and never go back.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alprd.protocol import PROTOCOL_VERSION
from alprd.protocol.bodies import utc_now

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from alprd.hq.endpoint import HqEndpoint
    from alprd.types import HotlistEntry

log = logging.getLogger("alprd")


def _key(e: dict[str, Any]) -> tuple[str, str | None]:
    return e["plate"], e.get("state") or None


def hotlist_delta(
    old: list[dict[str, Any]], new: list[dict[str, Any]], from_version: int, version: int
) -> dict[str, Any]:
    """hotlist.delta from the entries published at from_version to `new` (entry_to_json)."""
    before = {_key(e): e for e in old}
    after = {_key(e): e for e in new}
    add = [e for k, e in after.items() if before.get(k) != e]
    remove = [list(k) for k in before if k not in after]
    # a removal with no state takes every state of that plate off the car: what the new list
    # still holds for that plate goes again in `add`, after it
    gone_all = {p for p, st in before if st is None and (p, None) not in after}
    add += [e for k, e in after.items() if k[0] in gone_all and e not in add]
    return {
        "v": PROTOCOL_VERSION,
        "kind": "hotlist.delta",
        "from_version": from_version,
        "list_version": version,
        "created_utc": utc_now(),
        "add": add,
        "remove": remove,
        "cancellation": bool(remove),
    }


def read_hotlist(path: Path, fmt: str) -> tuple[list[HotlistEntry], list[str]]:
    """(entries, errors) from an import file; ImportRefused when it cannot be used."""
    from alprd.hq.importers import PARSERS, ImportRefused

    if fmt == "csv":
        from alprd.hotlist.csvfile import HotlistError, read_csv

        try:
            return read_csv(path), []
        except HotlistError as exc:
            raise ImportRefused(str(exc)) from exc
    result = PARSERS[fmt](path)
    return result.entries, result.errors


class HotlistWatch:
    """Publishes the hotlist file whenever it changes (its size or time): an import that
    removes a want reaches the cars as a cancellation delta within a second or two. The first
    publication after HQ starts is a snapshot (retained): the broker may have lost its
    retained list, and a car that lost its own starts from it."""

    def __init__(self, hq: HqEndpoint, path: Path, fmt: str, key: Ed25519PrivateKey) -> None:
        self.hq, self.path, self.fmt, self.key = hq, Path(path), fmt, key
        self.seen: str | tuple[int, int, int] | None = None  # the file's (mtime, size, inode)
        self.first = True

    def poll(self) -> None:
        from alprd.hq.importers import ImportRefused

        try:
            st = self.path.stat()
        except OSError as exc:
            if self.seen != "missing":
                log.error("hq: hotlist %s unreadable (%s); the last list stays", self.path, exc)
            self.seen = "missing"
            return
        mark = (st.st_mtime_ns, st.st_size, st.st_ino)
        if mark == self.seen:
            return
        self.seen = mark
        try:
            entries, errors = read_hotlist(self.path, self.fmt)
        except (ImportRefused, OSError) as exc:
            log.error("hq: hotlist refused, nothing published: %s", exc)
            return
        for err in errors:
            log.warning("hq: %s: skipped %s", self.path, err)
        try:
            self.hq.publish_hotlist(entries, self.key, snapshot=self.first)
            self.first = False
        except (TimeoutError, OSError) as exc:
            log.error("hq: hotlist not published (%s); will retry", exc)
            self.seen = None
