"""A cap on the connections a threaded server holds: the in-car page and the control socket.

socketserver's ThreadingMixIn starts a thread for every connection and keeps it until the
client goes. ~1,000 idle connections (slowloris) used to hold 1,000 threads and every file
descriptor the unit allows: the page stopped answering and the GPS reader could not reopen
its port (#32 item 4). With the cap, a server holds at most max_connections; when full, a new
connection takes the place of the oldest one that has not yet sent a whole request (an idle
or a slowloris one), so someone who really asks something always gets in; only when every
place is busy answering is the newcomer closed at once.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import sys
import threading
from typing import TYPE_CHECKING, Any

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # what the mixin is mixed into: its super() calls go there
    _Server = socketserver.BaseServer
else:
    _Server = object


class ConnectionCap(_Server):
    """Mixin for a socketserver.ThreadingMixIn server (before it in the bases). Handlers
    call server.busy(connection, True) once a request has arrived whole, and False when they
    wait for the next; a server that wraps connections (TLS) calls track(raw, wrapped)."""

    max_connections = 64
    cap_name = "server"  # for the log: "in-car page", "control socket"

    def _cap(self) -> tuple[threading.Lock, dict[int, list[Any]]]:
        if "_cap_open" not in self.__dict__:
            self._cap_lock = threading.Lock()
            # id(accepted socket) -> [it, the socket in use now, busy], oldest first
            self._cap_open: dict[int, list[Any]] = {}
            self.evicted = self.refused = 0
        return self._cap_lock, self._cap_open

    def _say(self, what: str, n: int) -> None:
        if n == 1 or n % 1000 == 0:
            log.warning(
                "%s: %d connections held; %s (%d so far)",
                self.cap_name,
                self.max_connections,
                what,
                n,
            )

    def process_request(self, request: Any, client_address: Any) -> None:
        lock, open_ = self._cap()
        with lock:
            if len(open_) >= self.max_connections:
                key = next((k for k, (_, _, busy) in open_.items() if not busy), None)
                if key is None:
                    self.refused += 1
                    self._say("all busy answering: a new one refused", self.refused)
                    super().shutdown_request(request)
                    return
                victim = open_.pop(key)[1]
                self.evicted += 1
                self._say("the oldest idle one closed for a new one", self.evicted)
                try:
                    victim.shutdown(socket.SHUT_RDWR)  # its thread reads the end and goes
                except OSError:
                    pass
            open_[id(request)] = [request, request, False]
        super().process_request(request, client_address)

    def track(self, raw: socket.socket, wrapped: socket.socket) -> None:
        lock, open_ = self._cap()
        with lock:
            entry = open_.get(id(raw))
            if entry is not None and entry[0] is raw:
                entry[1] = wrapped

    def busy(self, connection: socket.socket, busy: bool) -> None:
        lock, open_ = self._cap()
        with lock:
            for entry in open_.values():
                if entry[1] is connection:
                    entry[2] = busy
                    return

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, not socketserver's traceback on stderr: a client gone mid-answer (an
        evicted idle connection, a closed tab) is routine; anything else is said as an
        error with what it was."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError, TimeoutError)):
            log.debug("%s: client %s went away (%s)", self.cap_name, client_address, exc)
            return
        log.error(
            "%s: a request from %s failed: %s: %s",
            self.cap_name,
            client_address,
            type(exc).__name__,
            exc,
        )

    def connections(self) -> int:
        return len(self._cap()[1])

    def shutdown_request(self, request: Any) -> None:
        lock, open_ = self._cap()
        with lock:
            entry = open_.get(id(request))
            if entry is not None and entry[0] is request:
                del open_[id(request)]
        super().shutdown_request(request)
