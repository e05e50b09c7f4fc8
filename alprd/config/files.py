"""The files a configuration names, checked for being there (`alprd config check`): a model,
a key or a certificate that is missing is said before the daemon starts, with its setting."""

from __future__ import annotations

import os
from pathlib import Path

from alprd.config.sections import Config


def named_files(cfg: Config) -> list[tuple[str, str]]:
    """(setting, path) of each file the configuration names and needs."""
    out = [
        ("recognize.detector", cfg.recognize.detector),
        ("recognize.ocr", cfg.recognize.ocr),
        ("recognize.ocr_config", cfg.recognize.ocr_config),
        ("hotlist.path", cfg.hotlist.path),
        ("hotlist.public_key", cfg.hotlist.public_key),
        ("store.key_file", cfg.store.key_file),
        ("ui.tls_cert", cfg.ui.tls_cert),
        ("ui.tls_key", cfg.ui.tls_key),
        ("gps.port", cfg.gps.port),
    ]
    if cfg.uplink.broker.startswith("mqtts://"):
        out += [
            ("uplink.ca_file", cfg.uplink.ca_file),
            ("uplink.cert_file", cfg.uplink.cert_file),
            ("uplink.key_file", cfg.uplink.key_file),
        ]
    for cam in cfg.capture.cameras:  # a recording or a device; not a URL or picamera2
        if cam.source.startswith("/"):
            out.append((f"capture.cameras[{cam.id}].source", cam.source))
    return [(k, v) for k, v in out if v]


def missing_files(cfg: Config) -> tuple[list[str], list[str]]:
    """(errors, warnings): one line per named file that is not there or cannot be read. A
    device (/dev/...: a camera or GPS unplugged now) is a warning: the daemon waits for it."""
    errors: list[str] = []
    warnings: list[str] = []
    for setting, path in named_files(cfg):
        p = Path(path)
        device = path.startswith("/dev/")
        if not p.exists():
            line = f"{setting} = {path}: " + (
                "not there now (the daemon waits for it)" if device else "no such file"
            )
            (warnings if device else errors).append(line)
        elif not os.access(p, os.R_OK):
            errors.append(f"{setting} = {path}: not readable by this user")
    store_dir = Path(cfg.store.path).parent
    if store_dir.exists() and not os.access(store_dir, os.W_OK):
        errors.append(f"store.path = {cfg.store.path}: its folder is not writable by this user")
    return errors, warnings
