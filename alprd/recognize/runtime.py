"""The TFLite runtime: LiteRT (ai-edge-litert), with tflite_runtime only as a fallback import."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class ModelError(Exception):
    """A model file is missing, corrupt, or has the wrong shape."""


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:  # frozen 2.14 wheel: works only with numpy < 2 and older converter output
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

        log.warning("ai-edge-litert not installed; falling back to tflite_runtime")
        return Interpreter
    except ImportError as exc:
        raise ModelError("no TFLite runtime: pip install ai-edge-litert") from exc


class TFLiteModel:
    """One model with a single input; call returns every output as float32."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}")
        try:
            self._it = _interpreter_class()(model_path=str(self.path), num_threads=threads)
            self._it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load model {self.path}: {exc}") from exc
        inp = self._it.get_input_details()
        if len(inp) != 1:
            raise ModelError(f"{self.path}: expected one input, found {len(inp)}")
        self.input = inp[0]
        self.outputs = self._it.get_output_details()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.input["shape"])

    @property
    def input_dtype(self) -> Any:
        return self.input["dtype"]

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        self._it.set_tensor(self.input["index"], x.astype(self.input_dtype, copy=False))
        self._it.invoke()
        outs = []
        for d in self.outputs:
            y = self._it.get_tensor(d["index"])
            scale, zero = d.get("quantization", (0.0, 0))
            if scale:
                y = (y.astype(np.float32) - zero) * scale
            outs.append(y.astype(np.float32, copy=False))
        return outs
