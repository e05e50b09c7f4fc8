"""The in-car page's HTTP: requests read as JSON within limits, answers sent with the security
headers every answer carries, the Host header checked (DNS rebinding), the origin checked on
a state-changing request. routes.Handler adds the routes."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from alprd.protocol import strictjson

if TYPE_CHECKING:
    from alprd.ui.server import PageHttpServer, PageServer

log = logging.getLogger("alprd.ui.routes")

COOKIE = "alprd_session"
MAX_BODY = 64 * 1024


class HttpError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.extra = status, extra


class JsonHandler(BaseHTTPRequestHandler):
    """self.server.page is the PageServer the request belongs to."""

    timeout = 30  # a client that stops sending mid-request is dropped, not waited on
    server: PageHttpServer

    def handle_one_request(self) -> None:
        self.server.busy(self.connection, False)  # waiting: it may give way to a newcomer
        super().handle_one_request()

    def parse_request(self) -> bool:
        whole = super().parse_request()  # the request line and headers have arrived
        if whole:
            self.server.busy(self.connection, True)
        return whole

    @property
    def page(self) -> PageServer:
        return self.server.page

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("ui: " + format, *args)

    def _send(
        self, code: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        )
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(obj).encode(), "application/json", headers)

    def _token(self) -> str | None:
        for part in self.headers.get("Cookie", "").split(";"):  # tolerant of junk
            name, eq, value = part.strip().partition("=")
            if eq and name == COOKIE and value:
                return value
        return None

    def _body(self) -> dict[str, Any]:
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError as exc:
            raise HttpError(400, "bad Content-Length") from exc
        if n < 0 or n > MAX_BODY:
            raise HttpError(413, "request too large")
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            raise HttpError(415, "send JSON")
        try:
            body = strictjson.loads(self.rfile.read(n) or b"{}", "body")
        except ValueError as exc:
            raise HttpError(400, f"malformed JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise HttpError(400, "send a JSON object")
        return body

    def _known_host(self) -> bool:
        """Only the configured host names are served: a page elsewhere whose name resolves
        to this address (DNS rebinding) gets nothing, not even the static files."""
        if (self.headers.get("Host") or "").lower() in self.page.allowed_hosts:
            return True
        self._json(421, {"error": "unknown host name"})
        return False

    def _same_origin(self) -> None:
        origin = self.headers.get("Origin")
        host = self.headers.get("Host", "")
        if origin and origin.split("://", 1)[-1] != host:
            raise HttpError(403, "cross-origin request refused")
