"""#37 item 4: a retraining round from HQ's QA crop set (train.qa_round), tested with Open
Images crops standing in for officers' verified hits (train.qa_standin).

The round itself needs the [train] extra (TensorFlow, fast-plate-ocr's trainer: `./run
train`); the stand-in set does not.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from alprd.protocol.bundle import FILES, pack, unpack
from alprd.recognize import OCR
from alprd.recognize.recognizer import MARGIN_X, crop_plate

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ALPRD_SHARED_DATA", ROOT.parent / "shared" / "data"))
FIGURE = re.compile(r"^(\w+): ([-+]?[\d.]+) (%|pts|alerts)$")

needs_crops = pytest.mark.skipif(
    not (SHARED / "openimages_plate_crops").is_dir(),
    reason=f"no openimages_plate_crops under {SHARED} (set ALPRD_SHARED_DATA)",
)


def standin(out: Path, limit: int) -> list[dict]:
    subprocess.run(
        [sys.executable, "-m", "train.qa_standin", "--out", str(out), "--limit", str(limit)],
        cwd=ROOT,
        env={**os.environ, "ALPRD_SHARED_DATA": str(SHARED)},
        check=True,
        capture_output=True,
    )
    return [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]


@needs_crops
def test_the_stand_in_set_is_in_the_qa_exports_format(tmp_path):
    """Crops as a car stores them (box plus the readers' margin), labelled as an officer's
    confirmation is, in the manifest `alprd hq qa-export` writes."""
    items = standin(tmp_path / "qa", 12)
    assert len(items) == 12
    for it in items:
        img = cv2.imread(str(tmp_path / "qa" / it["image"]))
        assert img.shape[:2] == (it["height"], it["width"])
        assert it["label"] == "confirmed" and re.fullmatch(r"[A-Z0-9]{4,8}", it["read_text"])
        # cut again as the fine-tune cuts it: the crop, not the crop with a second margin
        again = crop_plate(img, it["plates"][0]["bbox"])
        assert abs(again.shape[1] - it["width"]) <= 2 + 2 * MARGIN_X


def test_the_verdict_wants_a_gain_on_kept_back_plates_and_no_loss_anywhere():
    from train.qa_round import verdict

    held = {"alert_recall": (90.0, 92.0, "%"), "false_alerts_per_1000_reads": (0.0, 0.0, "alerts")}
    assert verdict(held, {"us_e2e_dev": {"read_rate": (80.6, 80.6, "%")}}).startswith("worth")
    lost = verdict(held, {"us_e2e_dev": {"alert_recall": (88.0, 86.1, "%")}})
    assert lost == "do not ship: us_e2e_dev alert_recall -1.9"
    more_false = {**held, "false_alerts_per_1000_reads": (0.0, 1.2, "alerts")}
    assert verdict(more_false, {}) == "do not ship: holdout false_alerts_per_1000_reads +1.2"
    flat = {"alert_recall": (90.0, 90.0, "%"), "read_rate": (80.0, 80.0, "%")}
    assert verdict(flat, {}) == "do not ship: no gain on the kept-back plates"


@needs_crops
def test_a_round_fine_tunes_the_shipped_ocr_keeps_plates_back_and_reports_the_gain(tmp_path):
    pytest.importorskip("tensorflow", reason="the [train] extra is not installed (./run train)")
    pytest.importorskip("fast_plate_ocr.train", reason="the [train] extra is not installed")
    standin(tmp_path / "qa", 60)
    out = tmp_path / "round"
    done = subprocess.run(
        [sys.executable, "-m", "train.qa_round", str(tmp_path / "qa"), "--out", str(out)]
        + ["--epochs", "1", "--synthetic", "200", "--decoys", "2000", "--holdout", "0.3"],
        cwd=ROOT,
        env={**os.environ, "ALPRD_SHARED_DATA": str(SHARED)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = {m[1]: float(m[2]) for m in map(FIGURE.match, done.stdout.splitlines()) if m}
    # the gain is reported as bench/alerts.py and bench/accuracy.py report, alerts first
    for name in ("alert_recall", "false_alerts_per_1000_reads", "read_rate"):
        b, n = figures[f"holdout_{name}_before"], figures[f"holdout_{name}_after"]
        assert figures[f"holdout_{name}_gain"] == pytest.approx(n - b, abs=0.11)
    assert re.search(r"^round: (do not ship|worth a canary group)", done.stdout, re.M)
    assert "reexport_agreement: 100.0 %" in done.stdout  # it started from the shipped weights
    # plates kept back were never trained on, nor chosen on
    held = {
        json.loads(x)["plates"][0]["text"]
        for x in (out / "data" / "holdout" / "manifest.jsonl").read_text().splitlines()
    }
    seen = {
        row["plate_text"]
        for name in ("train.csv", "val.csv")
        for row in csv.DictReader((out / "data" / name).open())
    }
    assert 15 <= len(held) and not held & seen
    # the new models are a bundle HQ can sign and a car can take (it read the reference plate)
    models = out / "models"
    assert sorted(p.name for p in models.iterdir()) == sorted(FILES)
    new = (models / "ocr.tflite").read_bytes()
    assert new != OCR.read_bytes()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    manifest, files = unpack(pack(models, "qa-round-test", key), key.public_key())
    assert manifest["version"] == "qa-round-test" and files["ocr.tflite"] == new
