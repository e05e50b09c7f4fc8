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
from alprd.recognize.updates import SIGNED, ModelRefused, ModelUpdates

HQ = Ed25519PrivateKey.generate()


class Pipeline:
    def __init__(self) -> None:
        self.recognizer = Recognizer()
        self.model = "v-1"


def models(tmp_path, broken: str | None = None):
    folder = tmp_path / "bundle-src"  # the package's models folder holds the bundle's names
    shutil.copytree(recognize.MODEL_DIR, folder, dirs_exist_ok=True)
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
    kept = sorted(x.name for x in (tmp_path / "models" / "v-2").iterdir())
    assert kept == sorted([*FILES, SIGNED])  # its files, and the bundle as signed for resume()
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


def restarted(tmp_path):
    """The car after a restart: a fresh pipeline on the package's models, the same folder."""
    p, reports = Pipeline(), []
    u = ModelUpdates(
        RecognizeConfig(), p, HQ.public_key(), tmp_path / "models", "v-1", reports.append
    )
    return p, u, reports


def test_a_restarted_car_takes_the_bundle_it_was_using_again(updates, tmp_path):
    """Power off and on out of coverage: the car reads with HQ's bundle from its first frame,
    not with the package's models until the broker is back."""
    _, u = updates
    u.apply(pack(models(tmp_path), "v-2", HQ))
    p, again, reports = restarted(tmp_path)
    package = p.recognizer
    again.resume()
    assert again.version == "v-2" and p.model == "v-2" and p.recognizer is not package
    assert reports == []  # the same models as before: nothing new to tell HQ
    assert again.rollback() == "v-1"  # the one before is still known
    p, third, _ = restarted(tmp_path)
    third.resume()
    assert third.version == "v-1"  # and the rollback is kept


def test_a_kept_bundle_altered_on_disk_is_refused_at_start_and_reported(updates, tmp_path):
    _, u = updates
    u.apply(pack(models(tmp_path), "v-2", HQ))
    signed = tmp_path / "models" / "v-2" / SIGNED
    blob = bytearray(signed.read_bytes())
    blob[-50] ^= 0xFF
    signed.write_bytes(bytes(blob))
    p, again, reports = restarted(tmp_path)
    again.resume()
    assert again.version == "v-1" and p.model == "v-1"
    assert [(r["result"], r["version"]) for r in reports] == [("refused", "v-2")]
    assert "does not match its digest" in reports[0]["why"]
    _, third, reports = restarted(tmp_path)
    third.resume()  # refused once: not tried (nor reported) at every start
    assert third.version == "v-1" and reports == []
