"""#37 item 5, the car's side: a model bundle signed by HQ is verified (signature, each file's
digest), stored, loaded beside the models in use, self-tested on the reference plate and
swapped in between frames, with no restart; a tampered, forged or broken bundle is refused
and the models in use stay; rollback returns to the previous ones. Real LiteRT models (the
package's own, re-bundled)."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alprd import recognize
from alprd.config import RecognizeConfig
from alprd.protocol.bundle import FILES, pack
from alprd.recognize.recognizer import Recognizer
from alprd.recognize.updates import ModelRefused, ModelUpdates

HQ = Ed25519PrivateKey.generate()


class Pipeline:
    def __init__(self) -> None:
        self.recognizer = Recognizer()
        self.model = "v-1"


def models(tmp_path, broken: str | None = None):
    folder = tmp_path / "bundle-src"
    folder.mkdir(exist_ok=True)
    for name, src in zip(
        FILES, (recognize.DETECTOR, recognize.OCR, recognize.OCR_CONFIG, recognize.GLOBAL_OCR)
    ):
        shutil.copy(src, folder / name)
    if broken == "misreads":  # loads, but its alphabet is shifted: every character comes out wrong
        cfg = folder / "ocr_plate_config.yaml"
        cfg.write_text(
            cfg.read_text().replace(
                "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_", "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0_"
            )
        )
        (folder / "global_ocr.onnx").unlink()  # and no second reader to make up for it
    elif broken:
        (folder / broken).write_bytes(b"not a model" * 100)
    return folder


@pytest.fixture
def updates(tmp_path):
    p = Pipeline()
    return p, ModelUpdates(RecognizeConfig(), p, HQ.public_key(), tmp_path / "models", "v-1")


def test_a_signed_bundle_is_switched_to_between_frames_and_rolled_back(updates, tmp_path):
    p, u = updates
    first = p.recognizer
    frame = np.full((480, 640, 3), 90, np.uint8)
    seen, stop = [0], threading.Event()

    def frames():  # the frame loop keeps reading while the bundle loads and swaps
        while not stop.is_set():
            p.recognizer(frame)
            seen[0] += 1

    t = threading.Thread(target=frames)
    t.start()
    try:
        before = seen[0]
        assert u.apply(pack(models(tmp_path), "v-2", HQ)) == "v-2"
        after = seen[0]
    finally:
        stop.set()
        t.join(10)
    assert after > before  # frames were read all through the switch
    assert p.recognizer is not first and u.version == "v-2" and p.model == "v-2"
    assert sorted(x.name for x in (tmp_path / "models" / "v-2").iterdir()) == sorted(FILES)
    assert u.rollback() == "v-1" and u.version == "v-1" and p.recognizer is not first


@pytest.mark.parametrize(
    "spoil, why",
    [
        ("tamper", "does not match its digest"),
        ("forge", "signature does not verify"),
        ("broken", "will not load"),
        ("misreads", "does not read the self-test's reference plate"),
        ("truncate", "does not match its digest"),
    ],
)
def test_a_bad_bundle_is_refused_and_the_models_in_use_stay(updates, tmp_path, spoil, why):
    p, u = updates
    first = p.recognizer
    if spoil in ("broken", "misreads"):
        bad = "ocr.tflite" if spoil == "broken" else "misreads"
        wire = pack(models(tmp_path, broken=bad), "v-3", HQ)
    else:
        wire = pack(
            models(tmp_path), "v-3", Ed25519PrivateKey.generate() if spoil == "forge" else HQ
        )
        if spoil == "tamper":
            wire = wire[:-100] + bytes([wire[-100] ^ 0xFF]) + wire[-99:]
        elif spoil == "truncate":
            wire = wire[:-10]
    with pytest.raises(ModelRefused, match=why):
        u.apply(wire)
    assert p.recognizer is first and u.version == "v-1"
    assert not (tmp_path / "models" / "v-3").exists()  # a refused bundle is not kept
