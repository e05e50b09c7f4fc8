"""The in-car page: sign-in, live hits with verify-before-stop, search, self-test.

Served by the daemon on loopback, or on the MDC's interface over HTTPS (ui.tls_cert/tls_key;
config refuses a non-loopback address without them). Events are pushed with server-sent events,
so a hit shows the moment it is recorded. Every request but the page's own files needs a session
(POL-04); what a session may do is its role's (POL-06, alprd/roster). A state-changing request
needs the session's CSRF token in `X-CSRF-Token`. Every access to stored data needs one of the
six purposes and is audited before the data is returned (POL-02, POL-17).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from alprd.conncap import ConnectionCap
from alprd.lifecycle import Heartbeat
from alprd.ui.bus import EventBus
from alprd.ui.routes import Handler

if TYPE_CHECKING:
    from alprd.alerts import Alerts
    from alprd.audit import AuditLog
    from alprd.config import UiConfig
    from alprd.roster import Auth
    from alprd.store import Store

log = logging.getLogger(__name__)

# an MDC's browser opens a handful (the event stream, a few requests at once); HTTP/1.0
# connections close after each answer
MAX_CONNECTIONS = 64


@dataclass
class App:
    """What the page's API works with; built by the daemon (or a test)."""

    auth: Auth
    alerts: Alerts
    store: Store
    audit: AuditLog
    selftest: Callable[..., dict[str, Any]] | None = None  # session -> result (with a ticket)
    tickets_dir: Path | None = None
    unit_id: str = ""


class PageError(Exception):
    """The page cannot be served (its address is taken, its certificate unusable): one line."""


class PageHttpServer(ConnectionCap, ThreadingHTTPServer):
    """Threads per connection, MAX_CONNECTIONS at most (alprd.conncap: idle ones give way to
    new ones); with TLS, the handshake happens in the connection's own thread (with a
    timeout), so a client that stalls mid-handshake cannot hold up the others."""

    daemon_threads = True
    max_connections = MAX_CONNECTIONS
    cap_name = "in-car page"
    page: PageServer  # the page it serves (routes.Handler reads it)
    request_queue_size = 128  # the listen backlog: a burst of connections waits, not fails
    tls_context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls_context is not None:
            raw = request
            request.settimeout(10)
            try:
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.info("ui: TLS handshake with %s failed: %s", client_address[0], exc)
                return
            request.settimeout(None)
            self.track(raw, request)
        super().finish_request(request, client_address)


class PageServer:
    @classmethod
    def from_config(
        cls, ui: UiConfig, bus: EventBus, health: Callable[[], dict[str, Any]], app: App
    ) -> PageServer:
        tls = (ui.tls_cert, ui.tls_key) if ui.tls_cert else None
        return cls(ui.listen, bus, health, app, tls, ui.host_names)

    def __init__(
        self,
        listen: str,
        bus: EventBus,
        health: Callable[[], dict[str, Any]] = lambda: {},
        app: App | None = None,
        tls: tuple[str, str] | None = None,
        host_names: Sequence[str] = (),
    ) -> None:
        host, _, port = listen.rpartition(":")
        self.name = "page"
        self.bus, self.health, self.app = bus, health, app
        self.tls = tls is not None
        self.stopping = threading.Event()
        try:
            self.httpd = PageHttpServer((host.strip("[]"), int(port)), Handler)
        except OSError as exc:
            raise PageError(
                f"in-car page: cannot listen on {listen} ({exc.strerror or exc}): another "
                "program (another alprd?) holds it, or the address is not this machine's; "
                "set ui.listen"
            ) from exc
        self.httpd.page = self
        self.host_names = host_names
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                ctx.load_cert_chain(tls[0], tls[1])
            except (OSError, ssl.SSLError) as exc:
                self.httpd.server_close()
                raise PageError(
                    f"in-car page: ui.tls_cert = {tls[0]} with ui.tls_key = {tls[1]} unusable "
                    f"({getattr(exc, 'strerror', None) or exc}): run 'alprd provision "
                    "--page-host ADDRESS' or fix the settings"
                ) from exc
            self.httpd.tls_context = ctx
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="ui", kwargs={"poll_interval": 0.2}, daemon=True
        )

    @property
    def allowed_hosts(self) -> set[str]:
        """The Host headers served: the listen address, localhost names on loopback, and
        ui.host_names, each with the port (a browser sends it) or without."""
        host, port = self._address()
        names = {host, *self.host_names}
        if host.startswith("127.") or host in ("::1", "localhost"):
            names |= {"localhost", "127.0.0.1", "[::1]"}
        names = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
        return {n.lower() for n in names} | {f"{n}:{port}".lower() for n in names}

    def _address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self._address()
        return f"{'https' if self.tls else 'http'}://{host}:{port}/"

    def start(self) -> None:
        self._thread.start()

    def heartbeats(self) -> dict[str, Heartbeat]:
        return {}  # not watched: the officer sees a page that stopped answering

    def stop(self, timeout_s: float = 2.0) -> bool:
        self.stopping.set()
        self.httpd.shutdown()  # returns once serve_forever has
        self.httpd.server_close()
        return True
