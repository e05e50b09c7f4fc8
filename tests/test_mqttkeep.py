"""Stopping paho's network thread (alprd/mqttkeep.py): paho's loop_stop() checks its thread,
then joins it; a thread that ends on its own in between (after a refused certificate) made it
raise AttributeError, which failed test_security_store's pin test once under load."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alprd.mqttkeep import NetworkKeeper


class Ends(threading.Thread):
    """A network thread that ends, as paho's does, by setting the client's reference to None:
    here exactly between loop_stop()'s check and its join."""

    def __init__(self, client: mqtt.Client) -> None:
        super().__init__(daemon=True)
        self.client = client

    def join(self, timeout: float | None = None) -> None:
        self.client._thread = None  # the race, made to happen every time
        raise AttributeError("'NoneType' object has no attribute 'join'")


def keeper(client: mqtt.Client) -> NetworkKeeper:
    return NetworkKeeper(client, lambda: None, "test", stopping=lambda: True)


def test_a_thread_that_ended_between_check_and_join_is_stopped():
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client._thread = Ends(client)
    keeper(client).stop()  # no AttributeError: the thread has ended
    assert not keeper(client).running()


def test_an_attribute_error_with_the_thread_still_running_is_not_swallowed():
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    alive = threading.Thread(target=threading.Event().wait, args=(5,), daemon=True)
    alive.start()
    client._thread = alive

    def loop_stop() -> None:
        raise AttributeError("a bug, not the race")

    client.loop_stop = loop_stop
    with pytest.raises(AttributeError, match="a bug"):
        keeper(client).stop()
