"""Messages from HQ: signed hotlist updates, rosters and commands (docs/protocol.md).

paho's network thread only queues a message here (Inbox.put); the inbox's own thread verifies
and applies it, so a large hotlist snapshot never holds up acknowledgements. A refused
message costs one log line and leaves the last good state in force.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from alprd.files import replace_atomically
from alprd.protocol import UpdateRefused, check, strictjson, verify
from alprd.store import StoreError
from alprd.worker import DropOldestQueue, Worker

if TYPE_CHECKING:
    from alprd.alerts import Alerts
    from alprd.hotlist.sync import HotlistSync
    from alprd.roster import Auth, Roster

log = logging.getLogger(__name__)

QUEUE_SIZE = 64
COMMANDS_KEPT = 1000


class Page(Protocol):
    """Where the officer is told of a cancelled want (the page's EventBus)."""

    def publish(self, event: dict[str, Any]) -> None: ...


class Inbox(Worker):
    def __init__(
        self,
        unit_id: str,
        hq_key: Ed25519PublicKey,
        sync: HotlistSync,
        roster: Roster,
        auth: Auth,
        alerts: Alerts,
        bus: Page,
        state_dir: Path,
        run_selftest: Callable[..., dict[str, Any]],
        models: Callable[[bytes], None] | None = None,
    ) -> None:
        """models: takes a model bundle from HQ (alprd.recognize.updates.ModelUpdates.receive)."""
        super().__init__("inbox")
        self.models = models
        self.unit_id, self.hq_key = unit_id, hq_key
        self.sync, self.roster, self.auth, self.alerts, self.bus = sync, roster, auth, alerts, bus
        self.commands_path = Path(state_dir) / "commands-seen.json"
        self.run_selftest = run_selftest
        self.failed = 0
        self._queue = DropOldestQueue(QUEUE_SIZE)

    def handlers(self, prefix: str) -> dict[str, Callable[[bytes], None]]:
        """topic -> callback, for the uplink to subscribe to and call from paho's thread."""
        models = self.models
        return {
            f"{prefix}/hotlist": lambda m: self.put(self.hotlist, m),
            f"{prefix}/roster": lambda m: self.put(self.roster_update, m),
            f"{prefix}/{self.unit_id}/cmd": lambda m: self.put(self.command, m),
            **(
                {f"{prefix}/{self.unit_id}/models": lambda m: self.put(models, m)} if models else {}
            ),
        }

    def put(self, handle: Callable[[bytes], None], message: bytes) -> None:
        """Queue a message (paho's thread: never blocks; the oldest goes when full)."""
        dropped = self._queue.dropped
        self._queue.put((handle, message))
        if self._queue.dropped != dropped:
            log.error("inbox: full; the oldest message from HQ was dropped")

    @property
    def dropped(self) -> int:
        return self._queue.dropped

    def pending(self) -> int:
        return len(self._queue)

    def _interrupt(self) -> None:
        self._queue.wake()

    def _run(self) -> None:
        self.state = "running"
        while not self._stop.is_set():
            self.progress_mono = time.monotonic()  # heartbeat: the queue is being served
            got = self._queue.get(timeout=0.5)
            if got is None:
                continue
            handle, message = got
            try:
                handle(message)
            except Exception as exc:  # noqa: BLE001  no message may end this thread
                self.failed += 1
                log.error(
                    "inbox: a message from HQ was not applied (%s: %s); the last good state stays",
                    type(exc).__name__,
                    exc,
                )

    # -- the messages ---------------------------------------------------------------------
    def hotlist(self, message: bytes) -> None:
        """A signed hotlist update: apply it, withdraw the alerts of cancelled wants."""
        try:
            applied = self.sync.apply(message)
        except UpdateRefused:
            return  # logged with its reason; the last good list stays
        log.info(
            "hotlist: %s applied, version %d (+%d, -%d)",
            applied.kind,
            applied.version,
            applied.added,
            len(applied.removed),
        )
        if applied.cancelled and applied.removed:
            plates = [p for p, _ in applied.removed]
            try:
                self.alerts.cancel(applied.removed)
            except StoreError as exc:
                log.error("alerts: %s", exc)
            self.bus.publish({"type": "cancel", "plates": plates, "version": applied.version})

    def roster_update(self, message: bytes) -> None:
        """A signed roster; separated users are signed out at once (POL-15)."""
        try:
            removed, changed = self.roster.apply(message)
        except UpdateRefused as exc:
            log.error("roster: update refused: %s; the last good roster stays", exc)
            return
        ended = self.auth.roster_applied(removed, changed)
        if ended:
            log.warning(
                "roster: signed out %s (removed, deactivated or role changed)", ", ".join(ended)
            )

    def command(self, message: bytes) -> None:
        """A signed command for this unit (command.v1); each id runs once, across restarts."""
        try:
            body = verify(message, self.hq_key)
            if body.get("kind") != "command" or body.get("unit_id") != self.unit_id:
                raise UpdateRefused("not a command for this unit")
            check(body, "command")
            if body.get("command") != "selftest":
                raise UpdateRefused(f"unknown command {body.get('command')!r}")
            if not isinstance(body.get("id"), str) or body["id"] in self._commands_seen():
                raise UpdateRefused(f"command {body.get('id')!r} already run (replayed)")
        except UpdateRefused as exc:
            log.error("command refused: %s", exc)
            return
        self._command_seen(body["id"])
        log.info("HQ asks for a self-test (command %s)", body.get("id"))
        threading.Thread(
            target=self.run_selftest,
            name="selftest",
            daemon=True,
            kwargs={"session": None, "command_id": body.get("id")},
        ).start()

    def _commands_seen(self) -> list[str]:
        """Ids of the commands already run (the last COMMANDS_KEPT), kept across restarts."""
        try:
            seen = strictjson.loads(self.commands_path.read_bytes(), str(self.commands_path))
        except (OSError, ValueError):
            return []
        return [c for c in seen if isinstance(c, str)] if isinstance(seen, list) else []

    def _command_seen(self, command_id: str) -> None:
        seen = (self._commands_seen() + [command_id])[-COMMANDS_KEPT:]
        replace_atomically(self.commands_path, json.dumps(seen).encode())
