"""The reference HQ endpoint on MQTT: receives uplinked records, validates, stores,
acknowledges; publishes the signed hotlist (snapshots, and deltas between them), roster and
commands (docs/protocol.md, docs/hq-operations.md).

One process can do both. To scale out, `alprd hq --workers N` runs N ingest workers on an MQTT 5
shared subscription ($share/GROUP/PREFIX/+/up): the broker hands each up message to one of
them; each stores its batch in one transaction and acknowledges only after the commit. A
worker killed with batches unacknowledged loses nothing: the cars send them again (their
outbox keeps every record until its ack) and another worker stores them, once per (unit, id).
Publishing and retention run in one place, the leader.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol
from urllib.parse import urlparse

from alprd.hq.hotlists import hotlist_delta
from alprd.hq.schema import Batch
from alprd.hq.store import RecordStore, open_store
from alprd.mqttkeep import NetworkKeeper
from alprd.protocol import (
    ack_message,
    command_body,
    entry_to_json,
    hotlist_snapshot,
    parse_up_message,
    roster_body,
    sign,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from paho.mqtt.client import Client, MQTTMessage
    from paho.mqtt.reasoncodes import ReasonCode

    from alprd.types import HotlistEntry


class Tls(Protocol):
    """HQ's client certificate for mqtts:// (alprd.hq.command.BrokerTls)."""

    def context(self) -> ssl.SSLContext: ...


log = logging.getLogger(__name__)
LINK_SAY_S = 10.0  # the broker unreachable for this long at start, or after a loss: said

DELTA_MAX_SHARE = 0.5  # a change of more than half the list goes out as a snapshot
GROUP_MAX = 64  # up messages stored in one transaction, at most


class HqEndpoint:
    def __init__(
        self,
        broker: str,
        db: Path | str,
        prefix: str = "alprd/v1",
        client_id: str = "alprd-hq",
        tls: Tls | None = None,
        *,
        ingest: bool = True,
        share: str | None = None,
        index_key: Path | None = None,
        store: RecordStore | None = None,
        body_keys: Path | None = None,
    ) -> None:
        """db: a SQLite path or a postgresql:// URL (alprd.hq.store.open_store).
        tls: an object whose context() gives the ssl.SSLContext (HQ's client certificate,
        alprd.hq.command.BrokerTls), for mqtts://.
        ingest: take the cars' up messages (False: a publisher alone).
        share: the shared-subscription group of the ingest workers (None: one HQ)."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        url = urlparse(broker)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 1883
        self.prefix = prefix.rstrip("/")
        self.store = store or open_store(db, index_key, body_keys)
        self.ingest, self.share = ingest, share
        self.received = 0
        self.rejected = 0  # messages refused whole (not an up message, wrong topic)
        self.refused = 0  # records refused one by one (their body breaks its schema)
        self.failed = 0  # batches not stored (database error): not acknowledged
        # optional callback(unit, records), for the demo's console
        self.on_records: Callable[[str, list[dict[str, Any]]], None] | None = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.reconnect_delay_set(1, 30)
        if url.scheme == "mqtts":
            if tls is None:
                raise ValueError(
                    f"hq: {broker} needs HQ's client certificate (--tls-ca, --tls-cert, --tls-key)"
                )
            self.client.tls_set_context(tls.context())
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.subscribed = 0  # SUBACKs for the up filter: one per connection, for tests and logs
        self.client.suppress_exceptions = True  # a callback's bug is logged, not the thread's end
        self.connected = threading.Event()
        # up messages wait here for the store thread: paho's network thread never waits on
        # the database, and what queues up during one commit is stored in the next
        self._inbox: queue.Queue[Any] = queue.Queue(maxsize=256)  # full: the broker holds the rest
        self._stop = threading.Event()
        self._storer = self._store_thread()
        self.network = NetworkKeeper(self.client, self._connect_async, "hq", self._stop.is_set)
        self.store_restarts = 0
        self.leaving = False
        self.linked = False  # connected now (`connected`: has connected once)
        self.link_mono = time.monotonic()  # when the broker link last came up or went down
        self._said_down_mono: float | None = None

    def _store_thread(self) -> threading.Thread:
        return threading.Thread(target=self._store_loop, name="hq-store", daemon=True)

    def _connect_async(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)

    @property
    def up_filter(self) -> str:
        f = f"{self.prefix}/+/up"
        return f"$share/{self.share}/{f}" if self.share else f

    def start(self) -> None:
        self._storer.start()
        self._connect_async()
        self.client.loop_start()

    def supervise(self) -> None:
        """Start again whichever of HQ's own threads has ended: paho's network thread (which
        receives every car's uploads) and the store thread. The service's loop calls this
        every turn, on the leader and on each ingest worker, so no thread's end leaves a
        process that looks alive but stores nothing (#32 item 1)."""
        self.network.keep()
        self._say_link()
        if not self._storer.is_alive() and not self._stop.is_set():
            log.error("hq: the store thread had ended; starting it again")
            self._storer = self._store_thread()
            self._storer.start()
            self.store_restarts += 1

    def broker_state(self) -> dict[str, Any]:
        """The link to the broker, for the fleet page: connected or not, and for how long."""
        return {
            "broker": f"{self.host}:{self.port}",
            "connected": self.linked,
            "for_s": round(time.monotonic() - self.link_mono, 1),
        }

    def _say_link(self) -> None:
        """One line a minute while the broker cannot be reached (paho retries silently)."""
        now = time.monotonic()
        if self.linked or now - self.link_mono < LINK_SAY_S:
            return
        if self._said_down_mono is None or now - self._said_down_mono >= 60:
            self._said_down_mono = now
            log.warning(
                "hq: cannot reach the broker at %s:%d for %d s; retrying (is it running? "
                "check --broker and the TLS files); cars keep their records until then",
                self.host,
                self.port,
                now - self.link_mono,
            )

    # -- publishing (the leader) ----------------------------------------------------------
    def publish_hotlist(
        self,
        entries: Iterable[HotlistEntry],
        signing_key: Ed25519PrivateKey,
        version: int | None = None,
        timeout: float = 10.0,
        snapshot: bool = False,
    ) -> int:
        """Publish an imported list. Against the last list published, a small change goes out
        as a delta (not retained): a want removed is a cancellation, and the cars withdraw
        its open alert (POL-12). A first list, a large change, or snapshot=True goes out as a
        snapshot, retained, so a car that connects later gets it at once. Returns the list
        version: HQ's clock in seconds unless given, and always above the last one."""
        new = [entry_to_json(e) for e in entries]
        last = self.store.last_hotlist()
        version = self.store.next_version("hotlist", version or int(time.time()))
        body = None
        if last and not snapshot:
            body = hotlist_delta(last[1], new, last[0], version)
            changed = len(body.get("add", [])) + len(body.get("remove", []))
            if changed > DELTA_MAX_SHARE * max(len(new), len(last[1]), 1):
                body = None
        if body is None:
            body = hotlist_snapshot(entries, version)
        self.store.save_hotlist(version, new, body["kind"] == "hotlist.snapshot")
        self._publish_signed(
            "hotlist", body, signing_key, retain=body["kind"] == "hotlist.snapshot", timeout=timeout
        )
        log.info(
            "hq: published hotlist version %d as a %s (%d entries%s)",
            version,
            body["kind"][8:],
            len(new),
            f", +{len(body.get('add', []))} -{len(body.get('remove', []))}"
            if "add" in body
            else "",
        )
        return version

    def refresh_snapshot(self, signing_key: Ed25519PrivateKey, timeout: float = 10.0) -> int | None:
        """Publish the current list again as a retained snapshot, at its own version, when
        deltas went out since the last snapshot: a car that connects later starts from it;
        a car that followed the deltas already holds this version and skips it."""
        last = self.store.last_hotlist()
        if not last or last[2]:
            return None
        version, entries, _ = last
        body = {**hotlist_snapshot([], version), "entries": entries}
        self._publish_signed("hotlist", body, signing_key, retain=True, timeout=timeout)
        self.store.save_hotlist(version, entries, True)
        return version

    def publish_roster(
        self,
        users: list[dict[str, Any]],
        signing_key: Ed25519PrivateKey,
        version: int | None = None,
        timeout: float = 10.0,
    ) -> int:
        """Publish the signed user roster (roster.v1), retained; users from roster_user().
        A user left out, or deactivated, is signed out on every car at once (POL-15)."""
        body = roster_body(
            users, self.store.next_version("roster", version or time.time_ns() // 1000)
        )
        self._publish_signed("roster", body, signing_key, retain=True, timeout=timeout)
        self.store.save_roster(int(body["roster_version"]), users)
        return int(body["roster_version"])

    def send_command(
        self, unit: str, command: str, signing_key: Ed25519PrivateKey, timeout: float = 10.0
    ) -> str:
        """A signed command (command.v1) for one car, e.g. "selftest"; returns its id."""
        body = command_body(unit, command)
        self._publish_signed(f"{unit}/cmd", body, signing_key, retain=False, timeout=timeout)
        return str(body["id"])

    def _publish_signed(
        self, topic: str, body: dict[str, Any], key: Ed25519PrivateKey, retain: bool, timeout: float
    ) -> None:
        self.publish(topic, sign(body, key), retain, timeout)

    def publish(self, topic: str, payload: bytes, retain: bool, timeout: float = 10.0) -> None:
        """A message for the cars on PREFIX/topic (signed by the caller), QoS 1."""
        if not self.connected.wait(timeout):
            raise TimeoutError(f"hq: no broker at {self.host}:{self.port}")
        self.client.publish(
            f"{self.prefix}/{topic}", payload, qos=1, retain=retain
        ).wait_for_publish(timeout)

    def stop(self) -> None:
        self.leaving = True  # the disconnect that follows is ours: not said as a loss
        self.client.disconnect()
        self.network.stop()
        self._stop.set()
        if self._storer.is_alive():
            self._storer.join(10)
        self.store.close()

    # -- ingest ---------------------------------------------------------------------------
    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Any = None,
    ) -> None:
        if reason_code.is_failure:
            log.warning("hq: broker refused: %s", reason_code)
            return
        self.network.connected()
        if self.ingest:
            client.subscribe(self.up_filter, qos=1)
        self.link_mono, self._said_down_mono, self.linked = time.monotonic(), None, True
        log.info("hq: connected to the broker at %s:%d", self.host, self.port)
        self.connected.set()

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Any = None,
    ) -> None:
        if self.linked and not self.leaving:
            log.warning(
                "hq: lost the broker at %s:%d (%s); reconnecting", self.host, self.port, reason_code
            )
        if self.linked:
            self.link_mono = time.monotonic()
        self.linked = False

    def _on_subscribe(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any = None,
    ) -> None:
        if any(code.is_failure for code in reason_codes):
            log.error(
                "hq: the broker refused the subscription %s: %s", self.up_filter, reason_codes
            )
            return
        self.subscribed += 1

    def _on_message(self, client: Client, userdata: Any, msg: MQTTMessage) -> None:
        try:
            unit, records, status = parse_up_message(bytes(msg.payload))
            if msg.topic != f"{self.prefix}/{unit}/up":
                raise ValueError(f"unit_id {unit!r} does not match topic {msg.topic!r}")
        except ValueError as exc:
            self.rejected += 1
            log.warning("hq: rejected message on %s: %s", msg.topic, exc)
            return
        except Exception as exc:  # noqa: BLE001  nothing a car sends may end paho's thread
            self.rejected += 1
            log.error("hq: rejected message on %s: %s: %s", msg.topic, type(exc).__name__, exc)
            return
        self._inbox.put((unit, records, status))

    def _store_loop(self) -> None:
        while not self._stop.is_set():
            try:
                group = [self._inbox.get(timeout=0.2)]
            except queue.Empty:
                continue
            while len(group) < GROUP_MAX:
                try:
                    group.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            try:
                self._store(group)
            except Exception as exc:  # noqa: BLE001  not acknowledged: the cars send it again
                log.error(
                    "hq: %d message(s) not stored: %s: %s", len(group), type(exc).__name__, exc
                )

    def _store(self, group: list[Any]) -> None:
        """Store the group in one transaction and acknowledge each batch after the commit.
        If the group fails, each batch is tried alone, so one bad batch holds back no
        other; a batch that cannot be stored is not acknowledged (the car sends it again)."""
        try:
            done = list(zip(group, self.store.add_many(group)))
        except Exception as exc:  # noqa: BLE001  retried one by one below
            if len(group) == 1:
                self._not_stored(group[0], exc)
                return
            done = []
            for batch in group:
                try:
                    done.append((batch, self.store.add_many([batch])[0]))
                except Exception as exc1:  # noqa: BLE001
                    self._not_stored(batch, exc1)
        for (unit, records, _), refused in done:
            self.received += len(records) - len(refused)
            self.refused += len(refused)
            self.client.publish(
                f"{self.prefix}/{unit}/ack", ack_message([r["id"] for r in records]), qos=1
            )
            if self.on_records:
                self.on_records(unit, records)

    def _not_stored(self, batch: Batch, exc: Exception) -> None:
        unit, records, _ = batch
        self.failed += 1
        log.error(
            "hq: cannot store %d record(s) from %s: %s: %s",
            len(records),
            unit,
            type(exc).__name__,
            exc,
        )
