"""Uplink to HQ over MQTT: batches from the durable outbox, deleted only on HQ's ack.

paho keeps unconfirmed messages in memory only, so durability is the outbox's job: a record
stays in SQLite until HQ's application-level acknowledgement names its id, and is sent again
until then: after retry_s, then twice as long each time up to RETRY_CAP_S, jittered. HQ drops
duplicates by id. See docs/protocol.md.
"""

from __future__ import annotations

import hashlib
import logging
import random
import socket
import sqlite3
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlparse

from alprd.lifecycle import Heartbeat
from alprd.mqttkeep import NetworkKeeper
from alprd.protocol import parse_ack, topics, up_message
from alprd.protocol.tls import client_context
from alprd.uplink.outbox import Outbox

if TYPE_CHECKING:
    from paho.mqtt.client import Client, MQTTMessage
    from paho.mqtt.reasoncodes import ReasonCode

    from alprd.config import UplinkConfig

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 24 * 3600
RETRY_CAP_S = 300.0  # an unacknowledged record waits at most this long before it goes again
# at most this many batches sent and not yet acknowledged (each ack lets the next go): after an
# outage, a car's backlog goes out at the pace HQ stores it instead of all at once, which would
# overflow the broker's queues (messages dropped, sent again after a backoff) for every car
IN_FLIGHT_BATCHES = 4


def backoff_s(attempts: int, base_s: float, rng: random.Random | None = None) -> float:
    """How long a record sent `attempts` times waits for HQ's ack before it goes again:
    doubling from base_s up to RETRY_CAP_S, each wait drawn between half and all of it, so
    a fleet that lost HQ together does not resend in lockstep when HQ lags."""
    full = min(RETRY_CAP_S, base_s * 2 ** max(0, attempts - 1))
    return float(full / 2 + (rng or random).uniform(0, full / 2))


class UplinkError(Exception):
    """The uplink cannot be set up (bad URL, missing certificate)."""


class TlsFiles:
    """Mutual TLS for the uplink: HQ's CA alone is trusted; TLS 1.2 at least; optional pin."""

    def __init__(self, ca_file: str, cert_file: str, key_file: str, pin: str = "") -> None:
        self.ca_file, self.cert_file, self.key_file, self.pin = ca_file, cert_file, key_file, pin

    @classmethod
    def from_config(cls, cfg: UplinkConfig) -> TlsFiles:
        return cls(cfg.ca_file, cfg.cert_file, cfg.key_file, cfg.hq_cert_sha256)

    def context(self) -> ssl.SSLContext:
        try:
            return client_context(
                ("uplink.ca_file", self.ca_file),
                ("uplink.cert_file", self.cert_file),
                ("uplink.key_file", self.key_file),
            )
        except ValueError as exc:
            raise UplinkError(
                f"uplink TLS: {exc}: fix the setting, or issue this car's files with "
                "'alprd provision --issue UNIT' at the depot"
            ) from exc


class Uplink:
    @classmethod
    def from_config(
        cls,
        cfg: UplinkConfig,
        store: Outbox,
        unit_id: str,
        handlers: dict[str, Callable[[bytes], None]] | None = None,
        status: Callable[[], dict[str, Any]] | None = None,
    ) -> Uplink:
        """The configured uplink; handlers and status as in __init__."""
        tls = TlsFiles.from_config(cfg) if cfg.broker.startswith("mqtts") else None
        return cls(
            cfg.broker,
            store,
            unit_id,
            cfg.topic_prefix,
            cfg.batch,
            cfg.retry_s,
            tls=tls,
            max_bytes_per_s=cfg.max_bytes_per_s,
            handlers=handlers,
            status=status,
        )

    def __init__(
        self,
        broker: str,
        store: Outbox,
        unit_id: str,
        prefix: str = "alprd/v1",
        batch: int = 50,
        retry_s: float = 5.0,
        client_id: str | None = None,
        tls: TlsFiles | None = None,
        max_bytes_per_s: int = 0,
        handlers: dict[str, Callable[[bytes], None]] | None = None,
        status: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        url = urlparse(broker)
        if url.scheme not in ("mqtt", "mqtts") or not url.hostname:
            raise UplinkError(f"bad broker URL {broker!r}: use mqtt://host:port or mqtts://")
        self.host, self.port = url.hostname, url.port or (8883 if url.scheme == "mqtts" else 1883)
        self.store, self.unit_id, self.batch, self.retry_s = store, unit_id, batch, retry_s
        self.up_topic, self.ack_topic = topics(prefix, unit_id)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"alprd-{unit_id}",
            protocol=mqtt.MQTTv5,
        )
        self.client.reconnect_delay_set(1, 60)
        self.pin = None
        if url.scheme == "mqtts":
            if tls is None:
                raise UplinkError("mqtts:// needs uplink.ca_file, cert_file and key_file")
            self.client.tls_set_context(tls.context())
            self.pin = tls.pin
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.suppress_exceptions = True  # a callback's bug is logged, not the thread's end
        self.prefix = prefix.rstrip("/")
        # topic -> callback(bytes), subscribed at each connect: signed hotlist and roster
        # updates and commands from HQ (docs/protocol.md); the car gives the inbox's, which
        # only queue the message, so paho's network thread never waits on applying one
        self.handlers: dict[str, Callable[[bytes], None]] = dict(handlers or {})
        self.max_bytes_per_s = max_bytes_per_s  # 0 = no cap
        self.loop_mono: float | None = None  # heartbeat of the sender loop
        self.name = "uplink"
        self.drain_s = 0.0  # at stop, how long to wait for HQ to take the outbox
        self._stop = threading.Event()
        self.network = NetworkKeeper(self.client, self._connect_async, "uplink", self._stop.is_set)
        self._budget_mono = time.monotonic()  # when the bandwidth already used is paid off
        self.connected = threading.Event()
        self.pin_failures = 0
        self.sent = 0
        self.acked = 0
        self._in_flight: dict[str, tuple[float, int]] = {}  # id -> (due again, times sent)
        # optional: () -> {"hotlist_version", "hotlist_age_s", "outbox_depth"}, sent with
        # each batch for the fleet view at HQ (the daemon gives it)
        self.status = status
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)

    # -- lifecycle ----------------------------------------------------------------------
    def _status(self) -> dict[str, Any] | None:
        """The car's figures for HQ's fleet view (docs/protocol.md, up.v1 status)."""
        if self.status is None:
            return None
        try:
            return self.status()
        except Exception as exc:  # noqa: BLE001  a figure never stops an upload
            log.debug("uplink: no status for HQ (%s)", exc)
            return None

    def start(self) -> None:
        self._connect_async()
        self.client.loop_start()
        self.network.alive_mono = self.loop_mono = time.monotonic()
        self._thread.start()

    def _connect_async(self) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S  # the broker keeps our subscriptions
        self.client.connect_async(
            self.host, self.port, keepalive=30, clean_start=False, properties=props
        )

    def stop(self, timeout_s: float = 2.0) -> bool:
        """Drain first (up to drain_s, while HQ takes the outbox), then stop the sender and
        paho's thread, waiting at most timeout_s for the sender."""
        end, pause = time.monotonic() + self.drain_s, threading.Event()
        while self.drain_s and self.store.outbox_depth() and time.monotonic() < end:
            self.wake()
            pause.wait(0.1)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        self.client.disconnect()
        self.network.stop()
        return not self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    # -- liveness (the watchdog's heartbeats) -----------------------------------------------
    def health(self) -> dict[str, Any]:
        return {"connected": self.connected.is_set(), "sent": self.sent, "acked": self.acked}

    def heartbeats(self) -> dict[str, Heartbeat]:
        return {"uplink": self.heartbeat, "mqtt": self.network_heartbeat}

    def heartbeat(self) -> float | None:
        """The sender loop's last turn; None once its thread has ended."""
        return self.loop_mono if self._thread.is_alive() or self._stop.is_set() else None

    def network_heartbeat(self) -> float | None:
        """Now while paho's network thread runs; the moment it was last seen alive after it
        ended (the sender loop starts it again; if that fails, the watchdog sees it)."""
        return self.network.heartbeat()

    # -- paho callbacks (paho's thread) --------------------------------------------------
    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Any = None,
    ) -> None:
        try:
            self._connected(client, reason_code)
        except Exception as exc:  # noqa: BLE001  nothing may end paho's network thread
            log.error(
                "uplink: connection set-up failed (%s: %s); reconnecting", type(exc).__name__, exc
            )
            self._drop(client)

    @staticmethod
    def _drop(client: Client) -> None:
        """Close this connection and let paho's loop reconnect (its delay: 1 s up to 60 s);
        disconnect() would end the loop for good."""
        sock = client.socket()
        try:
            if not isinstance(sock, socket.socket):
                raise OSError("no socket")
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            client.disconnect()

    def _connected(self, client: Client, reason_code: ReasonCode) -> None:
        if reason_code.is_failure:
            log.warning("uplink: broker %s:%d refused: %s", self.host, self.port, reason_code)
            return
        if self.pin and not self._pin_matches(client):
            log.error(
                "uplink: HQ's certificate does not match the pinned fingerprint; "
                "disconnecting (POL-08: data goes to the configured HQ only)"
            )
            self._drop(client)  # first: whatever happens to the report, nothing is sent
            self.pin_failures += 1
            if self.pin_failures == 1:
                self.store.report_breach("HQ presented an unknown certificate (pin mismatch)")
            return
        client.subscribe(self.ack_topic, qos=1)
        for topic in self.handlers:
            client.subscribe(topic, qos=1)
        with self._lock:  # unacknowledged records go again soon, spread over retry_s
            now = time.monotonic()
            self._in_flight = {
                i: (now + random.uniform(0, self.retry_s), n)
                for i, (_, n) in self._in_flight.items()
            }
        self.connected.set()
        self.network.connected()
        self._wake.set()
        log.info("uplink: connected to %s:%d", self.host, self.port)

    def _pin_matches(self, client: Client) -> bool:
        sock = client.socket()
        if not isinstance(sock, ssl.SSLSocket):
            return False
        try:
            der = sock.getpeercert(binary_form=True)
        except ValueError:
            return False
        if not der:
            return False
        return hashlib.sha256(der).hexdigest() == (self.pin or "").lower()

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Any = None,
    ) -> None:
        if self.connected.is_set() and not self._stop.is_set():  # our own stop: not news
            log.warning("uplink: disconnected (%s); records stay in the outbox", reason_code)
        self.connected.clear()

    def _on_message(self, client: Client, userdata: Any, msg: MQTTMessage) -> None:
        try:
            self._message(msg)
        except Exception as exc:  # noqa: BLE001  nothing may end paho's network thread
            log.error(
                "uplink: message on %s not handled (%s: %s)", msg.topic, type(exc).__name__, exc
            )

    def _message(self, msg: MQTTMessage) -> None:
        handler = self.handlers.get(msg.topic)
        if handler:
            handler(bytes(msg.payload))
            return
        try:
            ids = parse_ack(bytes(msg.payload))
        except ValueError as exc:
            log.warning("uplink: rejected message on %s: %s", msg.topic, exc)
            return
        try:
            n = self.store.acknowledge(ids)
        except sqlite3.Error as exc:  # the ack is lost, the records stay: they will go again
            log.error("uplink: cannot record HQ's acknowledgement: %s", exc)
            return
        with self._lock:
            for i in ids:
                self._in_flight.pop(i, None)
        self.acked += n
        self._wake.set()

    # -- sender -------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self.loop_mono = time.monotonic()  # heartbeat: the sender loop is turning
            self._wake.wait(0.5)
            self._wake.clear()
            self.network.keep()
            if not self.connected.is_set():
                continue
            try:
                self._send_some()
            except Exception:  # keep the thread alive: the outbox is safe on disk
                log.exception("uplink: send failed")

    def _send_some(self) -> None:
        now = time.monotonic()
        with self._lock:
            busy = {i for i, (due, _) in self._in_flight.items() if now < due}
        if len(busy) >= IN_FLIGHT_BATCHES * self.batch:
            return  # the next ack (or a record's backoff running out) wakes the sender
        items = self.store.pending(self.batch, exclude=busy)
        if not items:
            return
        payload = up_message(
            self.unit_id,
            [{"id": it.id, "kind": it.kind, "body": it.body} for it in items],
            self._status(),
        )
        if self.max_bytes_per_s:
            wait = self._budget_mono - now
            if wait > 0 and self._stop.wait(wait):
                return
            self._budget_mono = max(self._budget_mono, now) + len(payload) / self.max_bytes_per_s
        info = self.client.publish(self.up_topic, payload, qos=1)
        if info.rc != 0:
            return
        with self._lock:
            for it in items:
                n = self._in_flight.get(it.id, (0.0, 0))[1] + 1
                self._in_flight[it.id] = (now + backoff_s(n, self.retry_s), n)
        self.sent += len(items)
        if len(items) == self.batch:
            self._wake.set()  # more waiting
