"""`alprd selftest`: check every component a fleet technician can fix, in plain words.

Each check returns a Result (component, status ok/warn/fail, symptom, details). On a failure,
or on request, a Motor Vehicle Trouble Ticket (Form 11.03.00, POL-19) is prepared: a print view
(HTML) in the state folder, and a record in the outbox for fleet services.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import ssl
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from alprd.config import CameraConfig, Config

if TYPE_CHECKING:
    from alprd.gps import GpsTrack
    from alprd.types import Fix


@dataclass
class Result:
    component: str
    status: str  # "ok", "warn" or "fail"
    symptom: str
    details: dict[str, Any] = field(default_factory=dict)


def ok(component: str, symptom: str = "working", **details: Any) -> Result:
    return Result(component, "ok", symptom, details)


def fail(component: str, symptom: str, **details: Any) -> Result:
    return Result(component, "fail", symptom, details)


def warn(component: str, symptom: str, **details: Any) -> Result:
    return Result(component, "warn", symptom, details)


# -- cameras -------------------------------------------------------------------------------
def check_camera(spec: CameraConfig, timeout_s: float = 5.0) -> Result:
    from alprd.capture import CameraError, make_source

    name = f"camera {spec.id}"
    src = make_source(spec)
    frames: list[np.ndarray] = []
    try:
        src.open()
        deadline = time.monotonic() + timeout_s
        while len(frames) < 3 and time.monotonic() < deadline:
            got = src.read()
            if got is None:
                break
            frames.append(got[0])
    except CameraError as exc:
        return fail(name, f"no picture: {exc}", source=spec.source)
    finally:
        src.close()
    if not frames:
        return fail(
            name,
            f"no frame arrived within {timeout_s:.0f} s: check the cable and the camera's power",
            source=spec.source,
        )
    grey = cv2.cvtColor(frames[-1], cv2.COLOR_BGR2GRAY)
    brightness = float(grey.mean())
    focus = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    details: dict[str, Any] = {
        "source": spec.source,
        "brightness": round(brightness, 1),
        "focus": round(focus, 1),
        "size": f"{grey.shape[1]}x{grey.shape[0]}",
    }
    if brightness < 8:
        return fail(
            name, "picture is black: lens covered, IR lamp off or exposure stuck", **details
        )
    live = not Path(spec.source).exists()  # a recording may repeat frames; a sensor never does
    if live and len(frames) > 1 and all(np.array_equal(frames[0], f) for f in frames[1:]):
        return fail(name, "picture is frozen: the camera repeats the same frame", **details)
    if brightness > 245:
        return warn(name, "picture is washed out: check exposure", **details)
    if focus < 20:
        return warn(name, "picture is blurred: clean the window or refocus", **details)
    return ok(name, **details)


# -- GPS -----------------------------------------------------------------------------------
def fix_details(fix: Fix, track: GpsTrack) -> dict[str, Any]:
    """What the self-test says of a GPS fix (the check and the live one alike)."""
    return {
        "lat": round(fix.lat, 5),
        "lon": round(fix.lon, 5),
        "quality": fix.quality,
        "hdop": fix.hdop,
        "satellites": fix.satellites,
        "utc": track.last_utc,
    }


def check_gps(cfg: Config, listen_s: float = 3.0) -> Result:
    from alprd.gps import GpsReader, GpsTrack

    if not cfg.gps.port:
        return warn("gps", "no GPS configured: reads will have no position")
    track = GpsTrack(cfg.gps.stale_after_s)
    reader = GpsReader(cfg.gps.port, track, cfg.gps.baud)
    if Path(cfg.gps.port).is_file():  # a log: parse it whole, no pacing
        for line in Path(cfg.gps.port).read_bytes().splitlines():
            reader.handle(line)
    else:
        reader.start()
        time.sleep(listen_s)
        reader.stop()
        reader.join(2)
    fix = track.latest()
    details: dict[str, Any] = {
        "port": cfg.gps.port,
        "sentences": reader.lines,
        "bad_sentences": track.errors,
    }
    if reader.lines == 0:
        return fail(
            "gps",
            f"GPS silent: nothing received on {cfg.gps.port} in "
            f"{listen_s:.0f} s; check wiring and baud rate",
            **details,
        )
    if fix is None:
        return fail(
            "gps", "GPS talks but has no fix: check the antenna and its view of the sky", **details
        )
    details.update(fix_details(fix, track))
    if fix.hdop is not None and fix.hdop > 5:
        return warn("gps", f"poor fix (HDOP {fix.hdop})", **details)
    return ok("gps", **details)


def check_clock(gps_utc: str | None) -> Result:
    from alprd.clock import SANE_AFTER

    now = datetime.now(timezone.utc)
    details: dict[str, Any] = {"system_utc": now.isoformat(timespec="seconds")}
    if now < SANE_AFTER:
        return fail("clock", "system clock is not set (no RTC, no NTP, no GPS time yet)", **details)
    if gps_utc:
        try:
            gps = datetime.fromisoformat(gps_utc.replace("Z", "+00:00"))
            details["gps_utc"] = gps_utc
            drift = abs((now - gps).total_seconds())
            details["drift_s"] = round(drift, 1)
            if drift > 2 and drift < 86400:
                return warn("clock", f"system clock differs from GPS by {drift:.0f} s", **details)
        except ValueError:
            pass
    return ok("clock", **details)


# -- models --------------------------------------------------------------------------------
# A frame the bundled models must read (reference/plate.json says what and whence); it ships
# with the runtime, which never imports the demo (pyproject's import contracts)
REFERENCE = Path(__file__).resolve().parent / "reference"


def check_models(cfg: Config) -> Result:
    from alprd.recognize import model_version
    from alprd.recognize.recognizer import Recognizer, reads_reference
    from alprd.recognize.runtime import ModelError

    try:
        rec = Recognizer.from_config(cfg.recognize)
    except ModelError as exc:
        return fail("models", f"model will not load: {exc}")
    known, got = reads_reference(rec)
    details: dict[str, Any] = {"version": model_version(), "known_text": known, "read": got[:3]}
    if known not in got:
        return fail(
            "models",
            "the reference image does not read correctly: model files damaged or wrong",
            **details,
        )
    try:  # the state reader (PaddleOCR's model, from the rapidocr wheel)
        details["state_model"] = getattr(rec.state.readers[0], "path", None)
    except Exception as exc:  # noqa: BLE001  a missing or damaged file, said in one line
        return fail(
            "models",
            f"the state reader's model will not load ({exc}): reads "
            "carry no state; reinstall the alprd package",
            **details,
        )
    return ok("models", **details)


# -- storage -------------------------------------------------------------------------------
def check_storage(cfg: Config, min_free_mb: float) -> Result:
    path = Path(cfg.store.path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        free_mb = shutil.disk_usage(folder).free / 2**20
    except OSError as exc:
        return fail("storage", f"storage folder unusable: {exc}", folder=str(folder))
    details: dict[str, Any] = {"folder": str(folder), "free_mb": round(free_mb)}
    if free_mb < min_free_mb:
        return fail(
            "storage", f"disk full: {free_mb:.0f} MB free, {min_free_mb:.0f} MB needed", **details
        )
    try:
        with tempfile.NamedTemporaryFile(dir=folder) as f:
            f.write(os.urandom(4096))
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        return fail("storage", f"write test failed: {exc}", **details)
    if path.exists():
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            conn.close()
        except sqlite3.DatabaseError as exc:
            verdict = str(exc)
        details["integrity"] = verdict
        if verdict != "ok":
            return fail("storage", f"database damaged: {verdict}", **details)
    return ok("storage", **details)


# -- keys and certificates -----------------------------------------------------------------
def check_keys(cfg: Config, warn_days: int = 30) -> Result:
    from cryptography import x509

    from alprd.store.crypto import DataKeyError, data_key_path, load_key

    try:
        load_key(data_key_path(cfg.store.key_file))
    except DataKeyError as exc:
        return fail("keys", str(exc))
    details: dict[str, Any] = {"data_key": "ok"}
    if cfg.uplink.broker.startswith("mqtts"):
        now = datetime.now(timezone.utc)
        for what in ("ca_file", "cert_file"):
            p = Path(getattr(cfg.uplink, what))
            try:
                cert = x509.load_pem_x509_certificate(p.read_bytes())
            except (OSError, ValueError) as exc:
                return fail("keys", f"certificate {p} unusable: {exc}", **details)
            end = cert.not_valid_after_utc
            details[what] = f"valid until {end.date()}"
            if end <= now:
                return fail("keys", f"certificate {p} expired on {end.date()}", **details)
            if (end - now).days < warn_days:
                return warn("keys", f"certificate {p} expires on {end.date()}", **details)
        key = Path(cfg.uplink.key_file)
        if not key.exists():
            return fail("keys", f"client key {key} missing: run 'alprd provision'", **details)
        if key.stat().st_mode & 0o077:
            return fail("keys", f"client key {key} is readable by others: chmod 600", **details)
    return ok("keys", **details)


# -- uplink --------------------------------------------------------------------------------
def check_uplink(cfg: Config, timeout_s: float = 5.0) -> Result:
    from urllib.parse import urlparse

    from alprd.uplink import TlsFiles, UplinkError

    if not cfg.uplink.broker:
        return warn("uplink", "no HQ broker configured: everything stays on the vehicle")
    url = urlparse(cfg.uplink.broker)
    port = url.port or (8883 if url.scheme == "mqtts" else 1883)
    details: dict[str, Any] = {"broker": cfg.uplink.broker}
    try:
        sock = socket.create_connection((url.hostname, port), timeout=timeout_s)
    except OSError as exc:
        return fail("uplink", f"HQ broker unreachable: {exc}", **details)
    with sock:
        if url.scheme == "mqtts":
            try:
                ctx = TlsFiles.from_config(cfg.uplink).context()
                with ctx.wrap_socket(sock, server_hostname=url.hostname) as tls:
                    details["tls"] = tls.version()
            except (UplinkError, ssl.SSLError, OSError) as exc:
                return fail("uplink", f"TLS handshake with HQ failed: {exc}", **details)
    return ok("uplink", **details)


# -- hotlist -------------------------------------------------------------------------------
def check_hotlist(cfg: Config) -> Result:
    from alprd.hotlist import HotlistError, read_csv
    from alprd.hotlist.index import Index

    if cfg.hotlist.public_key:
        saved = Path(cfg.store.path).parent / "hotlist.npz"
        if not saved.exists():
            return fail("hotlist", "no hotlist received from HQ yet")
        age = time.time() - saved.stat().st_mtime  # wall clock: a file's age is data
        try:
            from alprd.files import read_sealed
            from alprd.store.crypto import DataKeyError, Sealer, data_key_path, load_key

            sealer = Sealer(load_key(data_key_path(cfg.store.key_file)))
            index = Index.from_bytes(read_sealed(saved, sealer)[0])
        except DataKeyError as exc:
            return fail("hotlist", f"saved hotlist cannot be opened: {exc}")
        except (OSError, ValueError, KeyError) as exc:
            return fail("hotlist", f"saved hotlist unreadable: {exc}")
        details: dict[str, Any] = {
            "version": index.version,
            "entries": len(index),
            "age_h": round(age / 3600, 1),
        }
        if age > cfg.hotlist.max_age_s:
            return fail(
                "hotlist", f"hotlist is stale: last update {age / 3600:.1f} h ago", **details
            )
        return ok("hotlist", "signed list from HQ is current", **details)
    if cfg.hotlist.path:
        try:
            n = len(read_csv(Path(cfg.hotlist.path)))
        except HotlistError as exc:
            return fail("hotlist", str(exc))
        return warn("hotlist", "local file, not signed by HQ", entries=n)
    return fail("hotlist", "no hotlist configured: hits cannot be detected")


def run_all(cfg: Config, min_free_mb: float = 500.0) -> list[Result]:
    results = [check_camera(c) for c in cfg.capture.cameras]
    if not cfg.capture.cameras:
        results.append(fail("cameras", "no camera configured"))
    gps = check_gps(cfg)
    live_gps = cfg.gps.port and not Path(cfg.gps.port).is_file()  # a replayed log's time is old
    results += [
        gps,
        check_clock(gps.details.get("utc") if live_gps else None),
        check_models(cfg),
        check_storage(cfg, min_free_mb),
        check_keys(cfg),
        check_uplink(cfg),
        check_hotlist(cfg),
    ]
    return results


def table(results: list[Result]) -> str:
    mark = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL"}
    width = max(len(r.component) for r in results)
    return "\n".join(f"{mark[r.status]}  {r.component:<{width}}  {r.symptom}" for r in results)


def as_json(results: list[Result]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
