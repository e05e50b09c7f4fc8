"""The in-car page: sign-in, live hits with verify-before-stop, search, self-test.

server.py serves it (HTTP or HTTPS), routes.py answers its requests, bus.py pushes events to
it, alerts.py keeps the open hit alerts, events.py shapes a read as the page shows it.
"""
from alprd.ui.bus import EventBus
from alprd.ui.events import read_event
from alprd.ui.routes import HttpError
from alprd.ui.server import App, PageServer

__all__ = ["App", "EventBus", "HttpError", "PageServer", "read_event"]
