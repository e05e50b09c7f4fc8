"""train/finetune_global.py: the published global OCR as PyTorch, trained, and written back
into its own graph. Needs the [train] extra (torch, onnx, onnx2torch: ./run train)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the [train] extra (./run train)")
pytest.importorskip("onnx", reason="needs the [train] extra (./run train)")
if importlib.util.find_spec("onnx2torch") is None:  # imported by load_model (torchvision)
    pytest.skip("needs the [train] extra (./run train)", allow_module_level=True)
ort = pytest.importorskip("onnxruntime")

from alprd import recognize  # noqa: E402
from train.finetune_global import encode, load_model, train_step, write_back  # noqa: E402


def test_the_tuned_weights_run_in_the_published_graph(tmp_path):
    published = recognize.GLOBAL_OCR
    x = np.random.default_rng(0).integers(0, 255, (4, 64, 128, 3), dtype=np.uint8)
    session = ort.InferenceSession(str(published))
    model = load_model(published)
    with torch.no_grad():
        assert (
            np.abs(model(torch.from_numpy(x)).numpy() - session.run(None, {"input": x})[0]).max()
            < 1e-5
        )
    before = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    y = np.array([encode("ABC123")] * 4, np.int64)
    loss = train_step(model, opt, sched, x, y)
    assert float(loss) > 0
    out = tmp_path / "tuned.onnx"
    assert write_back(published, before, model, out) > 50  # the weights, found by value
    tuned = ort.InferenceSession(str(out))
    model.eval()
    with torch.no_grad():
        mine = model(torch.from_numpy(x)).numpy()
    # the graph as published (a dynamic batch among it), with the trained weights in it
    assert tuned.get_inputs()[0].shape == session.get_inputs()[0].shape
    assert np.abs(tuned.run(None, {"input": x})[0] - mine).max() < 1e-5
    published_out = session.run(None, {"input": x})[0]
    assert np.abs(tuned.run(None, {"input": x})[0] - published_out).max() > 1e-4
