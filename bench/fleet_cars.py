"""The simulated cars of bench/fleet.py: a minimal MQTT 5 client on asyncio (CONNECT,
SUBSCRIBE to the car's ack topic, PUBLISH QoS 1, PUBACK), one per car, all in one process, and
each car's outbox, batching, in-flight window and backoff as alprd's uplink has them
(alprd.uplink.client: IN_FLIGHT_BATCHES, backoff_s)."""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import os
import random
import ssl
import struct
import time
import uuid
from datetime import datetime

from alprd.uplink.client import IN_FLIGHT_BATCHES, backoff_s

PREFIX = "alprd/v1"
BATCH = 50  # uplink.batch
RETRY_S = 5.0  # uplink.retry_s
CROP = base64.b64encode(os.urandom(1800)).decode()  # a plate crop's size (~1.8 kB JPEG)


# -- a minimal MQTT 5 client --------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _varint(len(body)) + body


class Car:
    def __init__(self, unit: str, ctx: ssl.SSLContext, port: int, stats: "Stats") -> None:
        self.unit, self.ctx, self.port, self.stats = unit, ctx, port, stats
        self.outbox: dict[str, dict] = {}  # id -> record, until acknowledged
        self.queue: collections.deque[str] = collections.deque()  # ids to send
        self.attempts: dict[str, int] = {}  # id -> times sent
        self.flight: list[tuple[float, list[str]]] = []  # (when due again, ids) per batch
        self.sent_at: dict[str, float] = {}  # id -> when it was first sent
        self.pid = 0
        self.online = asyncio.Event()
        self.writer = None

    async def connect(self) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.ctx)
        # CONNECT: MQTT 5, clean start, keepalive 0 (none), no properties
        var = _str("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 0) + _varint(0)
        self.writer.write(_packet(0x10, var + _str(f"bench-{self.unit}")))
        kind, body = await self._read(reader)
        if kind != 0x20 or body[1] != 0:
            raise RuntimeError(f"{self.unit}: CONNACK {body.hex()}")
        self.pid = 1
        sub = struct.pack("!H", 1) + _varint(0) + _str(f"{PREFIX}/{self.unit}/ack") + b"\x01"
        self.writer.write(_packet(0x82, sub))
        self.reader = reader
        asyncio.get_running_loop().create_task(self._receive())

    @staticmethod
    async def _read(reader) -> tuple[int, bytes]:
        head = await reader.readexactly(1)
        n, shift = 0, 0
        while True:
            b = (await reader.readexactly(1))[0]
            n += (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return head[0], await reader.readexactly(n)

    async def _receive(self) -> None:
        try:
            while True:
                kind, body = await self._read(self.reader)
                if kind >> 4 == 3:  # PUBLISH: an ack from HQ
                    tlen = struct.unpack("!H", body[:2])[0]
                    pos = 2 + tlen
                    qos = (kind >> 1) & 3
                    pid = None
                    if qos:
                        pid = body[pos : pos + 2]
                        pos += 2
                    plen, shift = 0, 0  # properties length (varint)
                    while True:
                        b = body[pos]
                        pos += 1
                        plen += (b & 0x7F) << shift
                        shift += 7
                        if not b & 0x80:
                            break
                    pos += plen
                    if pid is not None:
                        self.writer.write(_packet(0x40, pid))
                    self._acked(json.loads(body[pos:])["ids"])
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass

    def _acked(self, ids: list[str]) -> None:
        now = time.monotonic()
        for i in ids:
            self.attempts.pop(i, None)
            if self.outbox.pop(i, None) is not None:
                self.stats.acked += 1
                self.stats.acked_ids.add((self.unit, i))
                sent = self.sent_at.pop(i, None)
                if sent is not None:
                    self.stats.latencies.append(now - sent)

    def add(self, utc: datetime) -> None:
        rid = str(uuid.uuid4())
        text = "".join(random.choices("ABCDEFGHJKLMNPRSTUVWXYZ0123456789", k=7))
        self.outbox[rid] = {
            "id": rid,
            "kind": "read",
            "body": {
                "id": rid,
                "text": text,
                "confidence": 0.91,
                "char_confidences": [0.91] * 7,
                "state": None,
                "utc": utc.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "time_source": "gps",
                "camera_id": "rear",
                "unit_id": self.unit,
                "lat": 34.05,
                "lon": -118.24,
                "fix_quality": 1,
                "bbox": [10, 20, 110, 50],
                "frames": 5,
                "crop_jpeg_b64": CROP,
            },
        }
        self.queue.append(rid)
        self.stats.made += 1

    def send_some(self) -> None:
        """Up to BATCH records not in flight (or due again), as one up message, QoS 1."""
        if not self.online.is_set() or self.writer is None:
            return
        now = time.monotonic()
        if self.flight and self.flight[0][0] <= now:  # not acknowledged in time: again
            keep = []
            for due, ids in self.flight:
                if due <= now:
                    self.queue.extendleft(i for i in reversed(ids) if i in self.outbox)
                else:
                    keep.append((due, ids))
            self.flight = keep
        # as the car's uplink: at most IN_FLIGHT_BATCHES batches unacknowledged
        self.flight = [(d, ids) for d, ids in self.flight if any(i in self.outbox for i in ids)]
        while self.queue and len(self.flight) < IN_FLIGHT_BATCHES:
            ids = []
            while self.queue and len(ids) < BATCH:
                i = self.queue.popleft()
                if i in self.outbox:
                    ids.append(i)
            if ids:
                self._publish(ids, now)

    def _publish(self, ids: list[str], now: float) -> None:
        n = max(self.attempts.get(i, 0) for i in ids) + 1  # the car's backoff, with jitter
        self.flight.append((now + backoff_s(n, RETRY_S), ids))
        self.flight.sort(key=lambda f: f[0])
        for i in ids:
            self.attempts[i] = n
            self.sent_at.setdefault(i, now)
        payload = json.dumps(
            {
                "v": 1,
                "unit_id": self.unit,
                "records": [self.outbox[i] for i in ids],
                "status": {"outbox_depth": len(self.outbox)},
            }
        )
        self.pid = self.pid % 65535 + 1
        var = _str(f"{PREFIX}/{self.unit}/up") + struct.pack("!H", self.pid) + _varint(0)
        self.writer.write(_packet(0x32, var + payload.encode()))
        self.stats.messages += 1


class Stats:
    def __init__(self) -> None:
        self.made = self.acked = self.messages = 0
        self.acked_ids: set[tuple[str, str]] = set()
        self.latencies: list[float] = []
