"""train/ocr_from_tflite.py: the shipped OCR's weights come back as a Keras model that,
exported again, reads exactly as the shipped file, so the next round can start from it.

Needs the [train] extra (tensorflow, fast-plate-ocr's trainer): `./run train`.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
pytest.importorskip("tensorflow", reason="the [train] extra is not installed (./run train)")
pytest.importorskip(
    "fast_plate_ocr.train.model.model_builders",
    reason="the [train] extra is not installed (./run train)",
)

import cv2  # noqa: E402

from alprd import recognize  # noqa: E402
from train import camera, ocr_from_tflite  # noqa: E402


@pytest.fixture(scope="module")
def plates():
    """Rendered training crops, as the OCR sees them (64x128 grey)."""
    rng = random.Random(11)
    out = []
    for _ in range(40):
        crop, _text, _state = camera.ocr_crop(rng)
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        out.append(cv2.resize(grey, (128, 64), interpolation=cv2.INTER_LINEAR))
    return out


def test_the_recovered_model_exported_again_reads_as_the_shipped_one(plates, tmp_path):
    model = ocr_from_tflite.recover(recognize.OCR)
    assert model.count_params() == 357101
    model.save(tmp_path / "shipped.keras")
    share, diff = ocr_from_tflite.reexport_check(tmp_path / "shipped.keras", recognize.OCR, plates)
    assert share == 1.0 and diff < 1e-4
    # the shipped model reads these crops as something, not all padding
    probs = ocr_from_tflite.read(recognize.OCR, plates)
    assert (probs.argmax(-1) != 36).sum(-1).mean() >= 4


def test_a_mapping_that_leaves_a_fold_in_is_caught(plates, tmp_path):
    """The query scale left folded in (the query kernels 8x too small): the check sees it."""
    model = ocr_from_tflite.recover(recognize.OCR)
    for w in model.weights:
        if w.path.startswith("transformer_block_") and "/query/" in w.path:
            w.assign(np.asarray(w) / 8)
    model.save(tmp_path / "wrong.keras")
    share, diff = ocr_from_tflite.reexport_check(tmp_path / "wrong.keras", recognize.OCR, plates)
    assert share < ocr_from_tflite.MIN_AGREEMENT and diff > 0.1


def test_a_config_the_file_was_not_built_from_is_refused():
    with pytest.raises(SystemExit, match="dense layers"):
        ocr_from_tflite.recover(
            recognize.OCR, ocr_from_tflite.TRAIN / "configs" / "ocr_cct_xs_deep.yaml"
        )
