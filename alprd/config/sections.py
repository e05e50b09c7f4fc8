"""The configuration tree: one strict, typed section per runtime role, unknown keys refused,
every field bounded and described (`alprd config keys` lists them). loader.py reads it."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alprd.hotlist.index import DEFAULT_CONFUSIONS

LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class VehicleConfig(_Section):
    unit_id: str = Field(
        "UNSET",
        min_length=1,
        max_length=64,
        description="Vehicle / unit identifier recorded with every read",
    )
    agency: str = Field("", max_length=128, description="Agency name shown on reports")


class CameraConfig(_Section):
    id: str = Field(
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Camera id recorded with every read",
    )
    source: str = Field(
        min_length=1,
        description=(
            "picamera2 index ('picamera2:0'), /dev/videoN, rtsp:// or http:// URL, a video file "
            "or an image folder"
        ),
    )
    fps: float = Field(0, ge=0, le=120, description="Replay speed for files; 0 = as recorded")
    loop: bool = Field(False, description="Replay files in a loop")
    detect_width: int = Field(
        0, ge=0, le=4096, description="Width of the detection stream; 0 = full frame"
    )


class ZoneConfig(_Section):
    name: str = Field(min_length=1, max_length=64, description="What the zone protects")
    polygon: list[tuple[float, float]] = Field(
        min_length=3, max_length=200, description="Vertices as [lat, lon] pairs (WGS 84)"
    )

    @field_validator("polygon")
    @classmethod
    def _coords(cls, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for lat, lon in pts:
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"[{lat}, {lon}] is not a [lat, lon] position")
        return pts


class CaptureConfig(_Section):
    no_capture_zones: list[ZoneConfig] = Field(
        default_factory=list,
        max_length=100,
        description="Places where reads are dropped before storage; only a count is kept (POL-03)",
    )
    cameras: list[CameraConfig] = Field(
        default_factory=list, max_length=8, description="Cameras on this vehicle"
    )
    queue_size: int = Field(
        4, ge=1, le=64, description="Frames waiting per camera; the oldest is dropped"
    )
    reconnect_max_s: float = Field(
        30, ge=1, le=600, description="Longest wait between camera reconnects"
    )

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cams: list[CameraConfig]) -> list[CameraConfig]:
        ids = [c.id for c in cams]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"camera ids must be unique; repeated: {', '.join(sorted(dup))}")
        return cams


class GpsConfig(_Section):
    port: str = Field(
        "", description="Serial device (/dev/ttyAMA0) or an NMEA log to replay; empty = no GPS"
    )
    baud: int = Field(9600, ge=1200, le=921600, description="Serial speed")
    stale_after_s: float = Field(5, ge=0.5, le=300, description="A fix older than this is stale")
    replay_loop: bool = Field(False, description="Replay an NMEA log in a loop")
    replay_retime: bool = Field(
        False,
        description="Replay an NMEA log as if live: its times "
        "start at the system clock's now (the demo)",
    )
    clock_margin_s: float = Field(
        60,
        ge=1,
        le=86400,
        description="GPS time and the system clock further apart "
        "than this: reads are stamped with GPS time",
    )


class RecognizeConfig(_Section):
    detector: str = Field("", description="Detector .tflite; empty = the bundled model")
    ocr: str = Field("", description="OCR .tflite; empty = the bundled model")
    ocr_config: str = Field("", description="OCR plate config YAML; empty = the bundled one")
    threads: int = Field(1, ge=1, le=16, description="Inference threads per model")
    detect_threshold: float = Field(0.1, ge=0.05, le=0.99, description="Minimum detector score")
    min_confidence: float = Field(
        0.7, ge=0, le=1, description="Minimum mean character confidence of a read"
    )
    min_chars: int = Field(2, ge=1, le=8, description="Shortest text kept")
    deskew_min_deg: float = Field(
        0.0,
        ge=0,
        le=15,
        description=(
            "Level a plate tilted at least this many degrees before reading it; 0 = never"
        ),
    )
    second_reader: bool = Field(
        True,
        description=(
            "Ask the second reader (fast-plate-ocr's global OCR, onnxruntime) where our own vote "
            "is unsure, and combine the two per character"
        ),
    )
    second_below: float = Field(
        0.95,
        ge=0,
        le=1.01,
        description=(
            "Our vote's mean character confidence under which the second reader is asked "
            "(1.01 = always)"
        ),
    )
    second_weight: float = Field(
        1.15,
        ge=0.1,
        le=10,
        description=("How much the second reader's confidence counts against ours when combining"),
    )
    state_min_confidence: float = Field(
        0.7,
        ge=0.5,
        le=1.01,
        description=(
            "How well the words PaddleOCR's reader reads on a plate's header and footer must "
            "match a state's name or slogan (0-1) for the read to name that state; under it "
            "the state is unknown (1.01 = never)"
        ),
    )


class TrackConfig(_Section):
    pass_gap_s: float = Field(
        1.5, ge=0.1, le=30, description="A pass ends after this long without a sighting"
    )
    max_pass_s: float = Field(30, ge=1, le=600, description="Longest pass before it is closed")


class HotlistConfig(_Section):
    path: str = Field(
        "",
        description="Hotlist file (CSV: plate,state,list_type,reason,"
        "priority,case_number); empty = none",
    )
    max_substitutions: int = Field(
        1,
        ge=0,
        le=3,
        description=(
            "Look-alike characters (from the confusion sets) a read may differ by and still hit"
        ),
    )
    one_off: bool = Field(
        False, description="Also hit a read with one character missing or one extra"
    )
    confusions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CONFUSIONS),
        max_length=40,
        description="Sets of characters a read may differ by and still hit, e.g. 'O0', "
        "'B8'. Each set beyond O0 and I1 costs false alerts (README, Alerts)",
    )
    nbest_min_probability: float = Field(
        0.1,
        ge=0.01,
        le=1.01,
        description=(
            "A text the readers found at least this probable (besides the one they read) is "
            "matched too, as a possible read; 1.01 = the read's text alone"
        ),
    )
    state_mismatch: Literal["alert", "ignore"] = Field(
        "alert",
        description="A hit whose state differs from the read's: alert (flagged "
        "'state-mismatch') or ignore",
    )
    public_key: str = Field(
        "",
        description="HQ's Ed25519 public key (PEM) that signs hotlist "
        "updates; empty = no sync from HQ",
    )
    max_age_s: float = Field(
        86400, ge=60, le=30 * 86400, description="A list not updated for this long is stale"
    )
    skip: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Degenerate reads never matched (besides reads "
        "under 3 characters and one repeated character)",
    )

    @field_validator("confusions")
    @classmethod
    def _sets(cls, sets: list[str]) -> list[str]:
        for g in sets:
            if len(g) < 2 or not g.isalnum() or g != g.upper():
                raise ValueError(f"confusion set {g!r}: two or more of A-Z0-9")
        return sets


class StoreConfig(_Section):
    path: str = Field("/var/lib/alprd/alprd.db", min_length=1, description="SQLite file")
    crop_quality: int = Field(85, ge=30, le=100, description="JPEG quality of stored crops")
    local_cap_days: float = Field(
        30,
        gt=0,
        le=730,
        description=("Acknowledged reads older than this are purged from the vehicle (POL-09)"),
    )
    key_file: str = Field(
        "/etc/alprd/keys/data.key",
        min_length=1,
        description=(
            "AES-256 data key made by 'alprd provision' (mode 0600); under systemd the "
            "credential 'data.key' (LoadCredential=) takes precedence"
        ),
    )


class UplinkConfig(_Section):
    broker: str = Field(
        "", description="mqtt:// or mqtts:// URL of HQ's broker; empty = offline, keep everything"
    )
    topic_prefix: str = Field(
        "alprd/v1", pattern=r"^[A-Za-z0-9_./-]+$", description="MQTT topic prefix (no wildcards)"
    )
    batch: int = Field(50, ge=1, le=1000, description="Records per uplink message")
    retry_s: float = Field(
        5,
        ge=0.5,
        le=600,
        description="Resend an unacknowledged record after this long, then "
        "after twice as long each time (up to 5 min), jittered",
    )
    max_bytes_per_s: int = Field(
        0, ge=0, le=100_000_000, description=("Bandwidth cap for the uplink in bytes/s; 0 = none")
    )
    ca_file: str = Field(
        "/etc/alprd/keys/ca.crt",
        description=(
            "mqtts: the only CA trusted for HQ's broker certificate (the system store is not used)"
        ),
    )
    cert_file: str = Field(
        "/etc/alprd/keys/device.crt", description="mqtts: this vehicle's client certificate"
    )
    key_file: str = Field(
        "/etc/alprd/keys/device.key", description="mqtts: this vehicle's client key (mode 0600)"
    )
    hq_cert_sha256: str = Field(
        "",
        pattern=r"^([0-9a-fA-F]{64})?$",
        description=(
            "mqtts: pin HQ's broker certificate by its SHA-256 fingerprint (hex); empty = trust "
            "any certificate from ca_file for the broker's host name"
        ),
    )

    @field_validator("broker")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not re.match(r"^mqtts?://[^/:]+(:\d+)?/?$", v):
            raise ValueError("must be mqtt://host[:port] or mqtts://host[:port]")
        host = re.sub(r"^mqtts?://([^/:]+).*$", r"\1", v)
        if v.startswith("mqtt://") and host not in LOOPBACK and not host.startswith("127."):
            raise ValueError(
                "plain mqtt:// is allowed on this machine's loopback only; HQ is "
                "reached over mutual TLS: use mqtts:// (POL-08, POL-13)"
            )
        return v


class UiConfig(_Section):
    listen: str = Field(
        "127.0.0.1:8080",
        pattern=r"^[0-9A-Za-z.:\[\]-]+:\d+$",
        description="host:port of the in-car page",
    )
    tls_cert: str = Field(
        "",
        description=(
            "PEM certificate for the page over HTTPS; required when listen is not loopback "
            "(`alprd provision` makes one as page.crt)"
        ),
    )
    tls_key: str = Field("", description="PEM private key of tls_cert")
    session_idle_s: float = Field(
        1800,
        ge=60,
        le=43200,
        description=(
            "A session with no action by its user for this long is signed out (an open page "
            "receiving events does not count)"
        ),
    )
    repeat_suppress_min: float = Field(
        10,
        ge=0,
        le=240,
        description="A want that alerted less than this many minutes ago opens no second "
        "alert (the hit is stored, audited, sent to HQ; an open one says 'seen again'); 0: off",
    )
    escalate_after_s: float = Field(
        60,
        ge=10,
        le=600,
        description=("A hit nobody acknowledges for this long is escalated to dispatch (recorded)"),
    )
    host_names: list[str] = Field(
        default_factory=list,
        max_length=10,
        description=(
            "Further names the page may be reached by (the MDC's DNS name); the listen address, "
            "and localhost on loopback, always are. Any other Host header is refused (DNS "
            "rebinding)"
        ),
    )

    @model_validator(mode="after")
    def _https_off_loopback(self) -> UiConfig:
        host = self.listen.rpartition(":")[0].strip("[]")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("set both ui.tls_cert and ui.tls_key, or neither")
        if not self.tls_cert and host not in LOOPBACK and not host.startswith("127."):
            raise ValueError(
                f"the page listens on {host}, not loopback: set ui.tls_cert and "
                "ui.tls_key (HTTPS is required off loopback)"
            )
        return self


class ServiceConfig(_Section):
    stall_s: float = Field(
        30,
        ge=2,
        le=600,
        description=(
            "A stage (capture, recognition, GPS, uplink) without progress for this long stops "
            "the systemd watchdog, so the service is restarted"
        ),
    )
    ready_timeout_s: float = Field(
        20,
        ge=1,
        le=300,
        description=("Longest wait for cameras and GPS to open before READY=1 is sent anyway"),
    )


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    levels: dict[str, Literal["DEBUG", "INFO", "WARNING", "ERROR"]] = Field(
        default_factory=dict, description="Per-module levels, e.g. {'alprd.uplink' = 'DEBUG'}"
    )


class Config(_Section):
    vehicle: VehicleConfig = Field(default_factory=VehicleConfig)
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    gps: GpsConfig = Field(default_factory=GpsConfig)
    recognize: RecognizeConfig = Field(default_factory=RecognizeConfig)
    track: TrackConfig = Field(default_factory=TrackConfig)
    hotlist: HotlistConfig = Field(default_factory=HotlistConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    uplink: UplinkConfig = Field(default_factory=UplinkConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
