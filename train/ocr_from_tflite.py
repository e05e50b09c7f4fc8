"""Recover a trainable Keras OCR model from a shipped `ocr.tflite`, to train the next round from it.

    python -m train.ocr_from_tflite alprd/recognize/models/ocr.tflite build/ocr_shipped.keras \
        --check build/ocr_data9/val.csv

Each OCR round starts from the previous round's Keras checkpoint. Those checkpoints were
not kept (only the exported TFLite is in the repository), so a new round would have to
start from scratch (hours on 2 cores, and eight rounds of lineage lost). The TFLite file
holds every weight, as fast-plate-ocr's exporter left it: int8 per-channel weights (dynamic
range) and float biases, with three rewrites this script undoes:

- the input's 1/255 rescaling is folded into the first convolution;
- each block's first DyT scale and shift (weight, bias) are folded into the query, key and
  value projections that follow it (here they become 1 and 0, the projections carry them);
- the attention's 1/sqrt(key_dim) query scale is folded into each block's query projection.

The weights come back as the int8 values times their scales. Exported again (train.export,
the same int8 per-channel scheme), they give the same int8 weights: `--check` reads crops
with the original and the re-export and refuses to keep the model unless they read alike
(measured on interim-7: 1,116 crops, every slot alike, largest probability difference 0).
The Keras model itself reads 3.7 % of those crops differently from the TFLite file: the
TFLite kernels also quantise activations on the fly (fast-plate-ocr's exporter warns that
its export deviates from the Keras model, for any model). Only fast-plate-ocr's CCT layout
(conv stem, patch MLP, transformer blocks with DyT, token reducer, plate head) is
understood; another layout stops with the count or name that did not match.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

from train import export  # noqa: E402

TRAIN = Path(__file__).resolve().parent
MODEL_CONFIG = TRAIN / "configs" / "ocr_cct_xs.yaml"
PLATE_CONFIG = TRAIN / "configs" / "plate_us.yaml"
MIN_AGREEMENT = 0.999


class Graph:
    """The TFLite file's ops in order, with its constant tensors dequantised."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        self.it = Interpreter(str(path))
        self.it.allocate_tensors()
        self.details = {t["index"]: t for t in self.it.get_tensor_details()}
        # the delegate's summary ops at the end repeat the graph: keep the built-in ops
        self.ops = [op for op in self.it._get_ops_details() if op["op_name"] != "DELEGATE"]
        self.producer = {int(o): op for op in self.ops for o in op["outputs"]}
        self.consumers: dict[int, list] = {}
        for op in self.ops:
            for i in op["inputs"]:
                self.consumers.setdefault(int(i), []).append(op)

    def is_const(self, index: int) -> bool:
        return index >= 0 and index not in self.producer and index != self.input

    @property
    def input(self) -> int:
        return int(self.it.get_input_details()[0]["index"])

    def const(self, index: int) -> np.ndarray:
        value = self.it.get_tensor(index)
        q = self.details[index]["quantization_parameters"]
        if value.dtype == np.int8:
            scales = q["scales"].astype(np.float32)
            shape = [1] * value.ndim
            if scales.size > 1:
                shape[q["quantized_dimension"]] = -1
            return (value.astype(np.float32) - q["zero_points"].reshape(shape)) * scales.reshape(
                shape
            )
        return value.astype(np.float32)

    def name(self, index: int) -> str:
        return self.details[index]["name"]

    def of(self, kind: str) -> list:
        return [op for op in self.ops if op["op_name"] == kind]

    def bias_after(self, op) -> np.ndarray:
        """An FC's bias: its third input, or the constant an ADD after it (maybe through a
        RESHAPE) adds."""
        if int(op["inputs"][2]) >= 0:
            return self.const(int(op["inputs"][2]))
        out = int(op["outputs"][0])
        for _ in range(2):
            for nxt in self.consumers.get(out, []):
                if nxt["op_name"] == "ADD":
                    consts = [int(i) for i in nxt["inputs"] if self.is_const(int(i))]
                    if consts:
                        return self.const(consts[0])
                if nxt["op_name"] == "RESHAPE":
                    out = int(nxt["outputs"][0])
        raise SystemExit(f"no bias found after {self.name(out)}")


def _fc(graph: Graph, op) -> tuple[np.ndarray, np.ndarray]:
    """(kernel as Keras holds it: [in, out], bias)."""
    return graph.const(int(op["inputs"][1])).T, graph.bias_after(op)


def _role(graph: Graph, op) -> str:
    names = " ".join(graph.name(int(i)) for i in op["inputs"] if int(i) >= 0)
    for role in ("attention_output", "query", "key", "value"):
        if f"/{role}" in names:
            return role
    return "dense"


def recover(tflite: Path, model_config: Path = MODEL_CONFIG, plate_config: Path = PLATE_CONFIG):
    """Build the Keras model of `model_config` holding the TFLite file's weights."""
    import keras
    from fast_plate_ocr.train.model.config import load_plate_config_from_yaml
    from fast_plate_ocr.train.model.model_builders import build_model
    from fast_plate_ocr.train.model.model_schema import load_model_config_from_yaml

    cfg = load_model_config_from_yaml(model_config)
    # the mapping goes by the layers' automatic names (mlp, dense_3, dy_t_5 ...): start
    # their counters afresh, as in a new process
    keras.backend.clear_session()
    model = build_model(cfg, load_plate_config_from_yaml(plate_config))
    g = Graph(tflite)
    weights: dict[str, np.ndarray] = {}

    # conv stem (the last CONV_2D is the patch extractor: fixed, no weights in Keras)
    convs = g.of("CONV_2D")
    stem = [w for w in model.weights if w.path.startswith("conv_stem/conv2d")]
    kernels = [w for w in stem if w.path.endswith("kernel")]
    if len(convs) != len(kernels) + 1:
        raise SystemExit(f"{len(convs)} convolutions for {len(kernels)} stem layers")
    rescale = cfg.rescaling.scale
    for k, (op, kernel) in enumerate(zip(convs, kernels)):
        w = g.const(int(op["inputs"][1])).transpose(1, 2, 3, 0)  # [out,h,w,in] -> [h,w,in,out]
        weights[kernel.path] = w / rescale if k == 0 else w
        weights[kernel.path[: -len("kernel")] + "bias"] = g.const(int(op["inputs"][2]))

    # fully connected layers in graph order: patch MLP, per block (attention, MLP),
    # token reducer, plate head
    fcs = g.of("FULLY_CONNECTED")
    blocks = cfg.transformer_encoder.layers
    mlp_layers = len(cfg.tokenizer.patch_mlp.hidden_units) if cfg.tokenizer.patch_mlp else 0
    per_block = 4 + len(cfg.transformer_encoder.units)
    expected = mlp_layers + blocks * per_block + 4 + 1
    if len(fcs) != expected or cfg.transformer_encoder.post_token_reducer_layers:
        raise SystemExit(f"{len(fcs)} dense layers where the config makes {expected}")
    paths = [w.path for w in model.weights]

    def find(prefix: str, suffix: str) -> str:
        hits = [p for p in paths if p.startswith(prefix) and p.endswith(suffix)]
        if len(hits) != 1:
            raise SystemExit(f"{prefix}...{suffix}: {hits}")
        return hits[0]

    pos = 0
    for n in range(mlp_layers):
        kernel, bias = _fc(g, fcs[pos])
        pos += 1
        dense = sorted(
            (p for p in paths if p.startswith("mlp/") and p.endswith("kernel")),
            key=lambda p: (
                int(p.split("/")[1].rpartition("_")[2] or -1) if "_" in p.split("/")[1] else -1
            ),
        )[n]
        weights[dense], weights[dense[:-6] + "bias"] = kernel, bias

    heads = cfg.transformer_encoder.heads
    dim = cfg.transformer_encoder.projection_dim
    alphas = [
        int(i)
        for op in g.of("MUL")
        for i in op["inputs"]
        if g.is_const(int(i))
        and g.details[int(i)]["shape"].size == 0
        and g.consumers[int(op["outputs"][0])][0]["op_name"] == "TANH"
    ]
    tanhs = g.of("TANH")
    if len(alphas) != 2 * blocks or len(tanhs) != 2 * blocks:
        raise SystemExit(f"{len(alphas)} DyT scales for {blocks} blocks")
    for b in range(blocks):
        block = f"transformer_block_{b + 1}/"
        dyts = sorted(
            {p.split("/")[1] for p in paths if p.startswith(block) and "/dy_t" in p},
            key=lambda s: int(s.rsplit("_", 1)[1]) if s != "dy_t" and s.count("_") > 1 else -1,
        )
        first, second = dyts
        weights[f"{block}{first}/alpha"] = g.const(alphas[2 * b])
        weights[f"{block}{first}/weight"] = np.ones(dim, np.float32)
        weights[f"{block}{first}/bias"] = np.zeros(dim, np.float32)
        weights[f"{block}{second}/alpha"] = g.const(alphas[2 * b + 1])
        # the second DyT's scale and shift: the MUL and ADD after its TANH
        mul = g.consumers[int(tanhs[2 * b + 1]["outputs"][0])][0]
        add = g.consumers[int(mul["outputs"][0])][0]
        for op, field in ((mul, "weight"), (add, "bias")):
            const = [int(i) for i in op["inputs"] if g.is_const(int(i))]
            weights[f"{block}{second}/{field}"] = g.const(const[0])
        attn = [p.split("/")[1] for p in paths if p.startswith(block + "multi_head")][0]
        mlp = [p.split("/")[1] for p in paths if p.startswith(block + "mlp")][0]
        dense_n = 0
        for op in fcs[pos : pos + per_block]:
            kernel, bias = _fc(g, op)
            role = _role(g, op)
            if role == "dense":
                name = sorted(
                    {p.split("/")[2] for p in paths if p.startswith(f"{block}{mlp}/")},
                    key=lambda s: int(s.rsplit("_", 1)[1]),
                )[dense_n]
                dense_n += 1
                weights[f"{block}{mlp}/{name}/kernel"] = kernel
                weights[f"{block}{mlp}/{name}/bias"] = bias
                continue
            prefix = f"{block}{attn}/{role}/"
            if role == "attention_output":
                weights[prefix + "kernel"] = kernel.reshape(heads, dim // heads, -1)
                weights[prefix + "bias"] = bias
                continue
            if role == "query":  # the 1/sqrt(key_dim) scale was folded in: take it out
                kernel, bias = kernel * np.sqrt(dim // heads), bias * np.sqrt(dim // heads)
            weights[prefix + "kernel"] = kernel.reshape(-1, heads, dim // heads)
            weights[prefix + "bias"] = bias.reshape(heads, dim // heads)
        pos += per_block

    reducer_heads = cfg.transformer_encoder.token_reducer_heads
    tile = g.of("TILE")[0]
    weights[find("token_reducer/", "query_tokens")] = g.const(int(tile["inputs"][0]))
    for op in fcs[pos : pos + 4]:
        kernel, bias = _fc(g, op)
        role = _role(g, op)
        prefix = find("token_reducer/", f"/{role}/kernel")[: -len("kernel")]
        if role == "attention_output":
            weights[prefix + "kernel"] = kernel.reshape(reducer_heads, -1, kernel.shape[1])
            weights[prefix + "bias"] = bias
        else:  # here the query scale is its own MUL: nothing folded
            weights[prefix + "kernel"] = kernel.reshape(kernel.shape[0], reducer_heads, -1)
            weights[prefix + "bias"] = bias.reshape(reducer_heads, -1)
    kernel, bias = _fc(g, fcs[pos + 4])
    weights[find("plate/", "kernel")], weights[find("plate/", "bias")] = kernel, bias

    weights[find("pos_emb/", "embeddings")] = g.const(
        [
            int(i)
            for op in g.of("BROADCAST_TO")
            for i in op["inputs"]
            if g.is_const(int(i)) and g.details[int(i)]["dtype"] == np.float32
        ][0]
    )

    trainable = {w.path for w in model.weights if w.trainable}
    missing = trainable - set(weights)
    if missing:
        raise SystemExit(f"not found in {tflite}: {sorted(missing)}")
    for w in model.weights:
        if w.path in weights:
            value = weights[w.path]
            if tuple(value.shape) != tuple(w.shape):
                raise SystemExit(f"{w.path}: {value.shape} for {tuple(w.shape)}")
            w.assign(value.astype(np.float32))
    return model


def read(tflite: Path, images: list[np.ndarray]) -> np.ndarray:
    """The TFLite model's slot probabilities for each crop (BGR or grey), prepared and run
    as alprd's OCR does (PlateOcr.preprocess, its TFLiteModel)."""
    from alprd.recognize.ocr import PlateOcr

    ocr = PlateOcr(tflite, PLATE_CONFIG)
    return np.array([ocr.model(ocr.preprocess(img)[None])[0][0] for img in images])


def reexport_check(keras_path: Path, tflite: Path, images: list[np.ndarray]) -> tuple[float, float]:
    """Export the Keras model the way a round is exported and read `images` with it and
    with `tflite`: (share of crops whose every slot both read alike, largest probability
    difference)."""
    with tempfile.TemporaryDirectory() as tmp:
        again = Path(tmp) / "again.tflite"
        export.export_ocr(keras_path, again)
        before, after = read(tflite, images), read(again, images)
    share = float((before.argmax(-1) == after.argmax(-1)).all(-1).mean())
    return share, float(np.abs(before - after).max())


def crops(csv_path: Path, n: int) -> list[np.ndarray]:
    """The first n crops of a fast-plate-ocr annotation CSV, as read from disk (BGR)."""
    import cv2

    rows = list(csv.DictReader(csv_path.open()))[:n]
    images = [cv2.imread(str(csv_path.parent / row["image_path"])) for row in rows]
    return [img for img in images if img is not None]


def recover_checked(
    tflite: Path,
    out: Path,
    check: Path,
    count: int = 300,
    model_config: Path = MODEL_CONFIG,
    plate_config: Path = PLATE_CONFIG,
) -> None:
    """Recover tflite's weights into out (.keras), and keep it only if, exported again, it
    reads the first `count` crops of the annotation CSV `check` as tflite does."""
    model = recover(tflite, model_config, plate_config)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    share, diff = reexport_check(out, tflite, crops(check, count))
    print(f"reexport_agreement: {100 * share:.1f} %\nreexport_max_prob_diff: {diff:.2g}")
    if share < MIN_AGREEMENT:
        out.unlink()
        raise SystemExit(f"the recovered model reads differently from {tflite}: removed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tflite", type=Path)
    ap.add_argument("out", type=Path, help="the Keras model to write (.keras)")
    ap.add_argument("--model-config", type=Path, default=MODEL_CONFIG)
    ap.add_argument("--plate-config", type=Path, default=PLATE_CONFIG)
    ap.add_argument(
        "--check",
        type=Path,
        required=True,
        help="a fast-plate-ocr annotation CSV whose crops both models read",
    )
    ap.add_argument("--check-count", type=int, default=300)
    a = ap.parse_args()
    recover_checked(a.tflite, a.out, a.check, a.check_count, a.model_config, a.plate_config)
    print(f"written: {a.out}")


if __name__ == "__main__":
    main()
