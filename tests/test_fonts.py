"""train/fonts.py: plate fonts from the npm registry are pinned by sha512, and only the wanted
files leave the tarball. Built from in-memory tarballs; no network."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import tarfile

import numpy as np
import pytest

from train import fonts, synth


def _tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _integrity(data: bytes) -> str:
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_a_tarball_that_does_not_match_its_pin_is_refused():
    data = _tarball({"package/LICENSE": b"OFL"})
    fonts._check(data, _integrity(data), "x")  # the pinned bytes pass
    with pytest.raises(fonts.FontFetchError, match="integrity mismatch"):
        fonts._check(data + b"\0", _integrity(data), "x")


def test_only_the_latin_weights_and_the_licence_are_unpacked(tmp_path):
    data = _tarball(
        {
            "package/files/oswald-latin-700-normal.woff": b"woff700",
            "package/files/oswald-latin-400-normal.woff": b"woff400",
            "package/files/oswald-cyrillic-700-normal.woff": b"cyr",
            "package/LICENSE": b"SIL Open Font License",
            "package/../../escape.woff": b"no",
        }
    )
    got = fonts.unpack(data, "oswald", (700,), tmp_path)
    assert sorted(p.name for p in got) == ["oswald-700.woff", "oswald.LICENSE"]
    assert (tmp_path / "oswald-700.woff").read_bytes() == b"woff700"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["oswald-700.woff", "oswald.LICENSE"]
    assert fonts.installed(tmp_path) == [str(tmp_path / "oswald-700.woff")]


def test_a_missing_weight_is_an_error(tmp_path):
    data = _tarball({"package/files/teko-latin-400-normal.woff": b"w"})
    with pytest.raises(fonts.FontFetchError, match="teko-latin-500-normal"):
        fonts.unpack(data, "teko", (500,), tmp_path)


def test_fetched_fonts_change_only_the_ocr_crops(monkeypatch):
    """Detector scenes and the demo clip (plain plates) render the same with or without the
    fetched fonts, so they rebuild bit for bit."""
    body, _ = fonts.debian()
    monkeypatch.setattr(synth, "plate_fonts", lambda: [])
    before = [synth.render_plate(random.Random(s)).image for s in range(6)]
    monkeypatch.setattr(synth, "plate_fonts", lambda: [body[0]])
    after = [synth.render_plate(random.Random(s)).image for s in range(6)]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
