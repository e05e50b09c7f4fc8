"""The daemon's local control socket, for `alprd selftest` (the technician's command and the
systemd timer) while the daemon runs.

The running daemon holds the cameras and the GPS port; a second process opening them reports
false camera failures and splits the GPS's lines between two readers. So `alprd selftest` asks
the daemon, which checks its own live devices (selftest.live), prepares the ticket on a
failure and queues it; only when no daemon answers does the command open the devices itself.

The socket is a UNIX stream socket in the state folder (0700, the service user's), made 0600:
one JSON line in ({"cmd": "selftest", "requested_by": "...", "ticket": "on_failure" or
"always"}), one JSON line out (the self-test's result).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from alprd.conncap import ConnectionCap
from alprd.lifecycle import Heartbeat
from alprd.protocol import strictjson

if TYPE_CHECKING:
    from alprd.config import Config

log = logging.getLogger(__name__)

MAX_REQUEST = 4096


def socket_path(cfg: Config) -> Path:
    return Path(cfg.store.path).parent / "control.sock"


class _Server(ConnectionCap, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    max_connections = 8  # a technician's `alprd selftest` and the timer's: one at a time
    request_queue_size = 64
    cap_name = "control socket"


class ControlSocket:
    """Serves self-test requests from `alprd selftest` on a UNIX socket."""

    def __init__(self, path: Path, run_selftest: Callable[..., dict[str, Any]]) -> None:
        self.name = "control socket"
        self.path, self.run_selftest = Path(path), run_selftest
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            if self.path.is_socket():
                self.path.unlink()  # left by a daemon that did not stop cleanly
            old = os.umask(0o177)
            try:
                self._server = _Server(str(self.path), self._handler())
            finally:
                os.umask(old)
        except OSError as exc:  # the timer then checks what needs no device
            log.error(
                "control socket %s unavailable (%s): `alprd selftest` cannot ask the daemon",
                self.path,
                exc,
            )
            return
        self._thread = threading.Thread(  # polls for its stop 10 times a second
            target=self._server.serve_forever,
            name="control",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )
        self._thread.start()

    def heartbeats(self) -> dict[str, Heartbeat]:
        return {}  # not watched: `alprd selftest` says when it cannot reach the daemon

    def stop(self, timeout_s: float = 2.0) -> bool:
        if self._server:
            self._server.shutdown()  # returns once serve_forever has
            self._server.server_close()
            self.path.unlink(missing_ok=True)
        return True

    def _handler(self) -> type[socketserver.StreamRequestHandler]:
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            server: _Server

            def handle(self) -> None:
                self.connection.settimeout(10)
                try:
                    line = self.rfile.readline(MAX_REQUEST)
                    self.server.busy(self.connection, True)
                    req = strictjson.loads(line or b"{}", "request")
                    if not isinstance(req, dict) or req.get("cmd") != "selftest":
                        raise ValueError('unknown request: expected {"cmd": "selftest"}')
                    out = outer.run_selftest(
                        requested_by=str(req.get("requested_by") or "alprd selftest")[:80],
                        always_ticket=req.get("ticket") == "always",
                    )
                except (ValueError, OSError) as exc:
                    out = {"error": str(exc)}
                except Exception as exc:  # noqa: BLE001  one line to the caller and the log
                    log.error("control: self-test failed: %s: %s", type(exc).__name__, exc)
                    out = {"error": f"{type(exc).__name__}: {exc}"}
                try:
                    self.wfile.write(json.dumps(out).encode() + b"\n")
                except OSError:
                    pass

        return Handler


def ask_daemon(
    path: Path, requested_by: str, always_ticket: bool = False, timeout_s: float = 60.0
) -> dict[str, Any] | None:
    """The running daemon's self-test result; None when no daemon listens there."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                s.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                return None
            except BlockingIOError:  # its backlog is full for now (a flood): wait our turn
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path}: the daemon accepts no connection") from None
                time.sleep(0.05)
        s.sendall(
            json.dumps(
                {
                    "cmd": "selftest",
                    "requested_by": requested_by,
                    "ticket": "always" if always_ticket else "on_failure",
                }
            ).encode()
            + b"\n"
        )
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    answer: dict[str, Any] = json.loads(data)
    return answer
