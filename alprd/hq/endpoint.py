"""The reference HQ endpoint on MQTT: receives uplinked records, validates, stores,
acknowledges; publishes the signed hotlist, roster and commands (docs/protocol.md)."""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from alprd.hq.records import HqStore
from alprd.protocol import (ack_message, command_body, hotlist_snapshot, parse_up,
                            roster_body, sign)

log = logging.getLogger(__name__)


class HqEndpoint:
    def __init__(self, broker: str, db_path: Path, prefix: str = "alprd/v1",
                 client_id: str = "alprd-hq", tls=None) -> None:
        """tls: an alprd.uplink.TlsFiles with HQ's client certificate, for mqtts://."""
        import paho.mqtt.client as mqtt

        url = urlparse(broker)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 1883
        self.prefix = prefix.rstrip("/")
        self.store = HqStore(db_path)
        self.received = 0
        self.rejected = 0  # messages refused whole (not an up message, wrong topic)
        self.refused = 0  # records refused one by one (their body breaks its schema)
        self.on_records = None  # optional callback(unit, records), for the demo's console
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(1, 30)
        if url.scheme == "mqtts":
            self.client.tls_set_context(tls.context())
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.connected = threading.Event()

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def publish_hotlist(self, entries, signing_key, version: int | None = None,
                        timeout: float = 10.0) -> int:
        """Publish a signed snapshot, retained, so a car that connects later gets it at once.
        Returns the list version (HQ's clock in seconds unless given, and always above the
        last one published)."""
        body = hotlist_snapshot(entries, self.store.next_version(
            "hotlist", version or int(time.time())))
        self._publish_signed("hotlist", body, signing_key, retain=True, timeout=timeout)
        return body["list_version"]

    def publish_roster(self, users: list[dict], signing_key, version: int | None = None,
                       timeout: float = 10.0) -> int:
        """Publish the signed user roster (roster.v1), retained; users from roster_user().
        A user left out, or deactivated, is signed out on every car at once (POL-15)."""
        body = roster_body(users, self.store.next_version(
            "roster", version or time.time_ns() // 1000))
        self._publish_signed("roster", body, signing_key, retain=True, timeout=timeout)
        return body["roster_version"]

    def send_command(self, unit: str, command: str, signing_key, timeout: float = 10.0) -> str:
        """A signed command (command.v1) for one car, e.g. "selftest"; returns its id."""
        body = command_body(unit, command)
        self._publish_signed(f"{unit}/cmd", body, signing_key, retain=False, timeout=timeout)
        return body["id"]

    def _publish_signed(self, topic: str, body: dict, signing_key, retain: bool,
                        timeout: float) -> None:
        if not self.connected.wait(timeout):
            raise TimeoutError(f"hq: no broker at {self.host}:{self.port}")
        info = self.client.publish(f"{self.prefix}/{topic}", sign(body, signing_key), qos=1,
                                   retain=retain)
        info.wait_for_publish(timeout)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.store.close()

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            log.warning("hq: broker refused: %s", reason_code)
            return
        client.subscribe(f"{self.prefix}/+/up", qos=1)
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        try:
            unit, records = parse_up(msg.payload)
            if msg.topic != f"{self.prefix}/{unit}/up":
                raise ValueError(f"unit_id {unit!r} does not match topic {msg.topic!r}")
        except ValueError as exc:
            self.rejected += 1
            log.warning("hq: rejected message on %s: %s", msg.topic, exc)
            return
        try:  # a record that breaks its schema is kept aside (refused) and acknowledged
            refused = self.store.add(unit, records)
        except (sqlite3.Error, TypeError, ValueError, KeyError) as exc:  # nothing acknowledged
            log.error("hq: cannot store %d record(s) from %s: %s", len(records), unit, exc)
            return
        self.received += len(records) - len(refused)
        self.refused += len(refused)
        client.publish(f"{self.prefix}/{unit}/ack", ack_message([r["id"] for r in records]),
                       qos=1)
        if self.on_records:
            self.on_records(unit, records)
