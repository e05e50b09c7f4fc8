"""train/grow.py: a grown OCR model starts out reading as the model it was grown from.

Needs the [train] extra (tensorflow, fast-plate-ocr's trainer): `./run train`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
pytest.importorskip("tensorflow", reason="the [train] extra is not installed (./run train)")
pytest.importorskip(
    "fast_plate_ocr.train.model.model_builders",
    reason="the [train] extra is not installed (./run train)",
)

from alprd import recognize  # noqa: E402
from train import grow, ocr_from_tflite  # noqa: E402

CONFIGS = Path(grow.__file__).parent / "configs"


def _plate(out):
    return out["plate"] if isinstance(out, dict) else out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The shipped OCR as a training run saves it: the .keras file (its weights recovered
    from ocr.tflite) with model_config.yaml beside it. Trained weights, not random ones:
    a random model's slots are near ties, and a thousandth of noise flips them."""
    run = tmp_path_factory.mktemp("run")
    (run / "model_config.yaml").write_text((CONFIGS / "ocr_cct_xs.yaml").read_text())
    model = ocr_from_tflite.recover(recognize.OCR, run / "model_config.yaml")
    model.save(run / "last.keras")
    return model, run / "last.keras"


def test_grown_model_reads_as_the_trained_one(trained, tmp_path):
    model, path = trained
    grown = grow.grow(path, CONFIGS / "ocr_cct_xs_deep.yaml", tmp_path / "grown.keras")
    names = [layer.name for layer in grown.layers]
    assert "transformer_block_6" in names and "post_reduce_transformer_block_2" in names
    assert grown.count_params() > model.count_params()
    x = np.random.default_rng(3).integers(0, 256, (16, 64, 128, 1)).astype("float32")
    before, after = _plate(model.predict(x, verbose=0)), _plate(grown.predict(x, verbose=0))
    assert np.abs(before - after).max() < 0.05
    assert (before.argmax(-1) == after.argmax(-1)).mean() > 0.99
    # the new blocks are small, not zero: zero weights under a relu would never train
    block = grown.get_layer("transformer_block_6")
    kernel = block.mlp.dense_layers[-1].get_weights()[0]
    assert 0 < np.abs(kernel).max() < 0.01


def test_a_config_that_is_not_the_trained_model_grown_is_refused(trained, tmp_path):
    _, path = trained
    other = tmp_path / "other.yaml"
    other.write_text(
        (CONFIGS / "ocr_cct_xs.yaml")
        .read_text()
        .replace("filters: 96", "filters: 88")
        .replace("layers: 4", "layers: 6")
    )
    with pytest.raises(SystemExit, match="not .* with more blocks"):
        grow.grow(path, other, tmp_path / "grown.keras")
