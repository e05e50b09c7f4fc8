"""The in-car page: reads and hits pushed live (server-sent events), served on loopback.

This first version shows what happens; sign-in, roles, verify-before-stop and the audit trail
arrive with the in-car issue.
"""
from __future__ import annotations

import base64
import json
import logging
import queue
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/app.css": ("app.css", "text/css; charset=utf-8")}


class EventBus:
    """Fan-out of events to page connections; keeps the last few for a page that joins late."""

    def __init__(self, keep: int = 50) -> None:
        self._subs: list[queue.Queue] = []
        self._recent: deque[dict] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def publish(self, event: dict) -> None:
        with self._lock:
            self._recent.append(event)
            for q in self._subs:
                try:
                    q.put_nowait(event)
                except queue.Full:
                    pass  # a stuck page must not hold up the pipeline

    def subscribe(self) -> tuple[queue.Queue, list[dict]]:
        q: queue.Queue = queue.Queue(maxsize=200)
        with self._lock:
            self._subs.append(q)
            return q, list(self._recent)

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            if q in self._subs:
                self._subs.remove(q)


def read_event(read, hits) -> dict:
    return {"type": "hit" if hits else "read", "id": read.id, "text": read.text,
            "confidence": read.confidence, "state": read.state, "utc": read.utc,
            "camera_id": read.camera_id, "lat": read.lat, "lon": read.lon,
            "crop": "data:image/jpeg;base64," + base64.b64encode(read.crop_jpeg).decode(),
            "hits": [{"plate": h.entry.plate, "state": h.entry.state,
                      "list_type": h.entry.list_type, "reason": h.entry.reason,
                      "case_number": h.entry.case_number, "rule": h.rule,
                      "differs": list(h.differs), "state_rule": h.state_rule} for h in hits]}


class PageServer:
    def __init__(self, listen: str, bus: EventBus, health=lambda: {}) -> None:
        host, _, port = listen.rpartition(":")
        self.bus = bus
        self.health = health
        self._stop = threading.Event()
        handler = self._handler()
        self.httpd = ThreadingHTTPServer((host.strip("[]"), int(port)), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="ui",
                                        kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                log.debug("ui: " + fmt, *args)

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Content-Security-Policy",
                                 "default-src 'self'; img-src 'self' data:")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path in FILES:
                    name, ctype = FILES[self.path]
                    self._send(200, (STATIC / name).read_bytes(), ctype)
                elif self.path == "/health":
                    self._send(200, json.dumps(server.health()).encode(), "application/json")
                elif self.path == "/events":
                    self._events()
                else:
                    self._send(404, b"not found", "text/plain")

            def _events(self):
                q, recent = server.bus.subscribe()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    for ev in recent:
                        self.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
                    self.wfile.flush()
                    while not server._stop.is_set():
                        try:
                            ev = q.get(timeout=1.0)
                            self.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
                        except queue.Empty:
                            self.wfile.write(b": keepalive\n\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    server.bus.unsubscribe(q)

        return Handler
