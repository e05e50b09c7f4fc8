"""The version of the car-HQ contract; every message carries it as "v"."""

PROTOCOL_VERSION = 1
