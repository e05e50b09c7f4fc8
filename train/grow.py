"""Grow a trained OCR model by more transformer blocks, keeping what it has learned.

    python -m train.grow build/ocr_runs/<run>/last.keras train/configs/ocr_cct_xs_deep.yaml \
        build/ocr_grown.keras

The bigger model (its config differs only in `layers` and `post_token_reducer_layers`)
gets every weight of the trained one; each new block is a residual block whose attention
output and last MLP layer start at a thousandth of their usual scale, so the grown model
reads almost exactly as the trained one on the first step, and training from it (with
`fast-plate-ocr train --weights-path`) only has to teach the new blocks. Retraining a
bigger model from scratch takes about 40 epochs on 2 cores; growing it starts where the
small one stopped.

New pre-reducer blocks go after the trained ones (the stochastic-depth rates of the
trained blocks shift a little with the count; that is a training-time setting only).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

PLATE_CONFIG = Path(__file__).parent / "configs" / "plate_us.yaml"
SCALE = 1e-3
BLOCKS = ("transformer_block_", "post_reduce_transformer_block_")


def _quiet(block, rng: np.random.Generator) -> None:
    """Shrink a block's residual branches to near zero (small, not zero: a relu at exactly
    zero passes no gradient)."""
    for dense in (block.attn._output_dense, block.mlp.dense_layers[-1]):
        kernel, bias = dense.get_weights()
        dense.set_weights(
            [rng.normal(0, SCALE, kernel.shape).astype(kernel.dtype), np.zeros_like(bias)]
        )


def grow(
    trained: Path,
    config: Path,
    out: Path,
    plate_config: Path = PLATE_CONFIG,
    trained_config: Path | None = None,
    seed: int = 0,
) -> object:
    """trained_config: the trained model's config (default: model_config.yaml beside it,
    where fast-plate-ocr's training run writes it)."""
    from fast_plate_ocr.train.model.config import load_plate_config_from_yaml
    from fast_plate_ocr.train.model.model_builders import build_model
    from fast_plate_ocr.train.model.model_schema import load_model_config_from_yaml

    trained_config = trained_config or trained.parent / "model_config.yaml"

    plate_cfg = load_plate_config_from_yaml(plate_config)
    old = build_model(load_model_config_from_yaml(trained_config), plate_cfg)
    old.load_weights(trained)
    new = build_model(load_model_config_from_yaml(config), plate_cfg)
    old_names = {layer.name for layer in old.layers}
    added = [
        layer
        for layer in new.layers
        if layer.name.startswith(BLOCKS) and layer.name not in old_names
    ]
    kept = [layer for layer in new.layers if layer.weights and layer not in added]
    trained_layers = [layer for layer in old.layers if layer.weights]

    def shapes(layers):
        return [(type(layer), [tuple(w.shape) for w in layer.weights]) for layer in layers]

    # auto-named layers (mlp, token_reducer) take a suffix in a second model: match by order
    if shapes(kept) != shapes(trained_layers):
        raise SystemExit(f"{config} is not {trained} with more blocks")
    for target, layer in zip(kept, trained_layers):
        target.set_weights(layer.get_weights())
    rng = np.random.default_rng(seed)
    for block in added:
        _quiet(block, rng)
    new.save(out)
    return new


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trained", type=Path, help="the trained model (.keras)")
    ap.add_argument("config", type=Path, help="the bigger model's config (.yaml)")
    ap.add_argument("out", type=Path, help="where to write the grown model (.keras)")
    ap.add_argument("--plate-config", type=Path, default=PLATE_CONFIG)
    ap.add_argument(
        "--trained-config",
        type=Path,
        help="the trained model's config (default: model_config.yaml beside it)",
    )
    args = ap.parse_args()
    grow(args.trained, args.config, args.out, args.plate_config, args.trained_config)
    print(f"grown: {args.out}")


if __name__ == "__main__":
    main()
