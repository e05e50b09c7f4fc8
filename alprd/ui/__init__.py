"""The in-car page: sign-in, live hits with verify-before-stop, search, self-test.

server.py serves it (HTTP or HTTPS), routes.py answers its requests, bus.py pushes events to
it, events.py shapes a read and an alert as the page shows them (the alert workflow itself is
alprd.alerts).
"""

from alprd.ui.bus import EventBus
from alprd.ui.events import alert_event, read_event
from alprd.ui.jsonhttp import HttpError
from alprd.ui.server import App, PageServer

__all__ = ["App", "EventBus", "HttpError", "PageServer", "alert_event", "read_event"]
