"""A network camera for tests and benchmarks: JPEG frames served as an endless MJPEG stream
over HTTP (what OpenCV reads from an IP camera), on a fixed port, until stopped."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class MjpegServer:
    def __init__(self, port: int, frames: list[bytes], fps: float = 20.0) -> None:
        """frames: JPEG images, sent in turn (a live sensor never sends two the same)."""
        stop = threading.Event()
        self.stop_event = stop
        self.connections = 0  # how many clients opened the stream
        period = 1.0 / fps
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                n, due = 0, time.monotonic()
                try:
                    while not stop.is_set():
                        frame = frames[n % len(frames)]
                        n += 1
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\n"
                            + f"Content-Length: {len(frame)}\r\n\r\n".encode()
                            + frame
                            + b"\r\n"
                        )
                        due += period
                        stop.wait(max(0.0, due - time.monotonic()))
                except OSError:
                    pass  # the client went away

        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()
