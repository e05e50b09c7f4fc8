"""The configuration: sections.py (one strict, typed section per runtime role) and loader.py
(TOML with environment overrides; errors that name the key path and the line)."""

from alprd.config.loader import (
    DEFAULT_PATH,
    ENV_PREFIX,
    ConfigError,
    describe_keys,
    key_lines,
    load,
)
from alprd.config.sections import (
    LOOPBACK,
    CameraConfig,
    CaptureConfig,
    Config,
    GpsConfig,
    HotlistConfig,
    LoggingConfig,
    RecognizeConfig,
    ServiceConfig,
    StoreConfig,
    TrackConfig,
    UiConfig,
    UplinkConfig,
    VehicleConfig,
    ZoneConfig,
)

__all__ = [
    "DEFAULT_PATH",
    "ENV_PREFIX",
    "LOOPBACK",
    "CameraConfig",
    "CaptureConfig",
    "Config",
    "ConfigError",
    "GpsConfig",
    "HotlistConfig",
    "LoggingConfig",
    "RecognizeConfig",
    "ServiceConfig",
    "StoreConfig",
    "TrackConfig",
    "UiConfig",
    "UplinkConfig",
    "VehicleConfig",
    "ZoneConfig",
    "describe_keys",
    "key_lines",
    "load",
]
