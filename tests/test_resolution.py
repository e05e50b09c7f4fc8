"""#25: every runtime dependency resolves, as wheels, for the machines alprd runs on: Debian 12
amd64, and a Raspberry Pi (aarch64, CPython 3.11) with the Pi's constraints (numpy 1 for apt's
picamera2, OpenCV 4.11). pip reads the index's metadata only; nothing is downloaded."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from pkg.deps import IndexUnreachable, resolve, runtime_requirements


@pytest.fixture(scope="module")
def resolved() -> dict:
    """Both machines' resolutions, asked at once: pip spends its time waiting on the index."""
    with ThreadPoolExecutor(2) as pool:
        asked = {arch: pool.submit(resolve, arch) for arch in ("arm64", "amd64")}
    out = {}
    for arch, done in asked.items():
        try:
            out[arch] = done.result()
        except IndexUnreachable as exc:
            out[arch] = exc
    return out


def _resolve(resolved, arch):
    if isinstance(resolved[arch], IndexUnreachable):
        pytest.skip(f"no package index reachable from here: {resolved[arch]}")
    return resolved[arch]


def test_the_pi_gets_numpy_1_opencv_4_11_and_litert(resolved):
    found = _resolve(resolved, "arm64")
    assert found["numpy"].startswith("1."), found["numpy"]
    assert found["opencv-python-headless"].startswith("4.11."), found["opencv-python-headless"]
    for name in (
        "ai-edge-litert",
        "onnxruntime",
        "cryptography",
        "argon2-cffi-bindings",
        "pydantic-core",
        "paho-mqtt",
        "pyserial",
        "sqlite-utils",
        "jsonschema",
        "rapidfuzz",
        "rapidocr",
    ):
        assert name in found, f"{name} does not resolve for the Pi"
    # the state reader's model is named by its path in this release of the wheel
    assert found["rapidocr"] == "3.10.0", found["rapidocr"]


def test_debian_amd64_resolves_every_runtime_dependency(resolved):
    found = _resolve(resolved, "amd64")
    wanted = {
        r.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
        for r in runtime_requirements()
    }
    assert wanted <= set(found), wanted - set(found)


def test_fast_plate_ocr_is_not_a_runtime_dependency():
    # nothing under alprd imports it; its import pulls onnxruntime eagerly, and it stays in
    # the [train] extra (training and export)
    assert not any(r.startswith("fast-plate-ocr") for r in runtime_requirements())
