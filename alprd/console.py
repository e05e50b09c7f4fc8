"""What the car's commands share: a read's line on the console, the errors that stop the
daemon before it runs (each reported as one line), whether the page's port is free."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alprd.types import Hit, Read


def print_read(read: Read, hits: Sequence[Hit]) -> None:
    from alprd.pipeline import format_read

    print(format_read(read, hits), flush=True)


def startup_errors() -> tuple[Any, ...]:
    """The errors that stop the daemon before it runs, each reported as one line."""
    from alprd.protocol.envelope import UpdateRefused
    from alprd.recognize.runtime import ModelError
    from alprd.store import StoreError
    from alprd.store.crypto import DataKeyError
    from alprd.ui.server import PageError
    from alprd.uplink import UplinkError

    return (StoreError, DataKeyError, UplinkError, ModelError, UpdateRefused, PageError)


def port_free(listen: str) -> bool:
    host, _, port = listen.rpartition(":")
    with socket.socket() as s:
        try:
            s.bind((host.strip("[]"), int(port)))
        except OSError:
            return False
    return True
