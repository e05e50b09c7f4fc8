"""A model bundle on the wire (#37 item 5): the models a car reads plates with, signed by HQ
with the hotlist's key, so a car takes only what HQ sent and only intact.

    MAGIC (8 bytes) | length of the signed manifest (4 bytes, big-endian) | signed manifest
    (the envelope of alprd.protocol.envelope: Ed25519 over gzip'd JSON) | the files, in the
    manifest's order

The manifest: {"v": 1, "kind": "models.bundle", "version": "...", "created_utc": "...",
"files": [{"name": ..., "bytes": n, "sha256": hex}, ...]}. A file is one of FILES; the
detector, the OCR and its plate config are required; each file's length and digest must
match. The state reader (PaddleOCR's, from the rapidocr wheel) stays with the package.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alprd.protocol.envelope import UpdateRefused, sign, verify

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

MAGIC = b"ALPRDMB1"
FILES = ("detector.tflite", "ocr.tflite", "ocr_plate_config.yaml", "global_ocr.onnx")
REQUIRED = ("detector.tflite", "ocr.tflite", "ocr_plate_config.yaml")
MAX_BUNDLE = 15 * 1024 * 1024  # under the broker's 16 MiB packet cap
VERSION_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def pack(folder: Path, version: str, key: Ed25519PrivateKey) -> bytes:
    """HQ side: the bundle of the model files in folder, signed."""
    if not VERSION_RE.match(version):
        raise ValueError(f"bundle version {version!r}: letters, digits, '.', '_', '-' only")
    blobs = {name: (folder / name).read_bytes() for name in FILES if (folder / name).exists()}
    missing = [n for n in REQUIRED if n not in blobs]
    if missing:
        raise ValueError(f"{folder}: no {', '.join(missing)}")
    manifest = {
        "v": 1,
        "kind": "models.bundle",
        "version": version,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": [
            {"name": n, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
            for n, b in blobs.items()
        ],
    }
    signed = sign(manifest, key)
    out = MAGIC + len(signed).to_bytes(4, "big") + signed + b"".join(blobs.values())
    if len(out) > MAX_BUNDLE:
        raise ValueError(f"bundle of {len(out)} bytes exceeds {MAX_BUNDLE}")
    return out


def unpack(message: bytes, key: Ed25519PublicKey) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Car side: (manifest, {name: bytes}); UpdateRefused naming what is wrong (forged,
    truncated, a file altered, an unknown file name) and nothing written."""
    if len(message) > MAX_BUNDLE:
        raise UpdateRefused(f"bundle of {len(message)} bytes exceeds {MAX_BUNDLE}")
    if len(message) < len(MAGIC) + 4 or not message.startswith(MAGIC):
        raise UpdateRefused("not a model bundle (no ALPRDMB1 header)")
    n = int.from_bytes(message[len(MAGIC) : len(MAGIC) + 4], "big")
    start = len(MAGIC) + 4
    manifest = verify(message[start : start + n], key)
    if manifest.get("kind") != "models.bundle" or manifest.get("v") != 1:
        raise UpdateRefused("a signed message, but not a model bundle of version 1")
    version = manifest.get("version")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise UpdateRefused(f"bundle version {version!r} is not a plain name")
    files, at = {}, start + n
    for f in manifest.get("files") or []:
        name, size, digest = f.get("name"), f.get("bytes"), f.get("sha256")
        if name not in FILES or name in files or not isinstance(size, int) or size < 0:
            raise UpdateRefused(f"bundle {version}: file entry {str(f)[:80]} refused")
        blob = message[at : at + size]
        if len(blob) != size or hashlib.sha256(blob).hexdigest() != digest:
            raise UpdateRefused(f"bundle {version}: {name} does not match its digest")
        files[name], at = blob, at + size
    if at != len(message):
        raise UpdateRefused(f"bundle {version}: {len(message) - at} bytes beyond its files")
    missing = [name for name in REQUIRED if name not in files]
    if missing:
        raise UpdateRefused(f"bundle {version}: no {', '.join(missing)}")
    return manifest, files
