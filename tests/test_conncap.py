"""The servers' connection cap (alprd/conncap.py) says what goes wrong in one line; the cap
itself is tested by the slowloris rows of tests/reliability/test_hostile_round3.py."""

from __future__ import annotations


def test_a_server_says_a_failed_request_in_one_line_not_a_traceback(caplog, capsys):
    """socketserver prints a traceback to stderr for every request that raises (a client
    that went away mid-answer did so 40 times in the slowloris test)."""
    import logging
    import socketserver

    from alprd.conncap import ConnectionCap

    class Server(ConnectionCap, socketserver.TCPServer):
        cap_name = "in-car page"

    server = Server(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    try:
        with caplog.at_level(logging.DEBUG, logger="alprd.conncap"):
            for exc in (BrokenPipeError(32, "Broken pipe"), KeyError("session")):
                try:
                    raise exc
                except Exception:  # noqa: BLE001  what a handler thread meets
                    server.handle_error(None, ("127.0.0.1", 5555))
    finally:
        server.server_close()
    assert capsys.readouterr().err == ""
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert said == [
        ("DEBUG", "in-car page: client ('127.0.0.1', 5555) went away ([Errno 32] Broken pipe)"),
        ("ERROR", "in-car page: a request from ('127.0.0.1', 5555) failed: KeyError: 'session'"),
    ]


def test_a_busy_page_address_is_one_line_and_stops_the_start(tmp_path):
    """#36 finding 10: a busy ui.listen port gave an 8-frame traceback. Now a PageError, one
    of the start-up errors `alprd run` and `alprd demo` print as one line."""
    import socket

    import pytest

    from alprd.console import startup_errors
    from alprd.ui import EventBus
    from alprd.ui.server import PageError, PageServer

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(PageError) as exc:
            PageServer(f"127.0.0.1:{port}", EventBus())
    said = str(exc.value)
    assert f"cannot listen on 127.0.0.1:{port}" in said and "ui.listen" in said
    assert "\n" not in said and isinstance(exc.value, startup_errors())
