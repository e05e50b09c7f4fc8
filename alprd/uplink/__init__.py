"""Uplink to HQ over MQTT: batches from the durable outbox, deleted only on HQ's ack.

The MQTT client and its sender thread: client.py; the wire format: alprd.protocol.
"""

from alprd.uplink.client import SESSION_EXPIRY_S, TlsFiles, Uplink, UplinkError

__all__ = ["SESSION_EXPIRY_S", "TlsFiles", "Uplink", "UplinkError"]
