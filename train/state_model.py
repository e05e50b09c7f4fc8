"""A reader of the words that name a plate's state, fine-tuned from fast-plate-ocr's global
OCR (MIT) on synthetic plates. An experiment, not shipped: see below.

    python -m train.state_model --out build/state     # torch, onnx2torch; writes words.onnx
    python bench/accuracy.py ../shared/data/us_plate_crops --half even --state-sweep \
        --second-model build/state/words.onnx        # (reads the text with it too)

alprd.recognize.state reads a plate's top and bottom bands (state.bands) with the two plate
readers as published and matches what they read against each state's name and slogans
(state.WORDS). Here the global OCR learns to read the bands' words, up to 9 letters (a
longer name: its first 9), from synthetic rich plates (train/synth.py) whose words belong to
their state (train/states.py); the graph keeps the published interface
(finetune_global.write_back).

Measured (2026-12-03, us_plate_crops' even half; MODEL_CARD.md "The state"): 1,500 steps
(40,000 bands, 17 min on 2 cores) read 13.9 % of held-out synthetic bands exactly (mostly
the empty ones) and named fewer real states than the published model (1.2 % right, 0.8 %
wrong at 0.8, against 4.2 % and 1.2 %). Also tried and not kept: a CNN from nothing on the
128x64 crop, 51 states out (loss at chance after two epochs); a head on the global OCR's
frozen encoder tokens of the crop (chance on held-out synthetic), then of the two bands
(12 % on held-out synthetic, near nothing on real crops at any threshold).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import cv2
import numpy as np

from alprd.recognize.second import model_input
from alprd.recognize.state import bands, words_of
from train import camera, make_ocr_data, synth
from train.finetune_global import encode, exact, load_model, synthetic, train_step, write_back

MODEL = make_ocr_data.shared_data().parent / "models/fast-plate-ocr/cct_xs_v1_global.onnx"


def state_crop(rng: random.Random, backgrounds: list):
    """A rich synthetic plate cropped as alprd crops a box for the state: the detector's box
    (a little loose or tight) with the second reader's margins, from the size plates have in
    frames up to close-ups; milder blur and noise than the OCR's crops. (RGB crop, plate)"""
    plate = synth.render_plate(rng, rich=True, backdrops=backgrounds)
    ph = int(np.clip(rng.lognormvariate(np.log(80), 0.5), 24, 220))
    pw = ph * 2
    mx, my = int(pw * rng.uniform(-0.02, 0.2)), int(ph * rng.uniform(0.0, 0.3))
    cw, ch = pw + 2 * max(mx, 0), ph + 2 * my
    canvas = camera.random_background(rng, ch, cw)
    small = cv2.resize(plate.image, (pw, ph), interpolation=cv2.INTER_AREA)
    quad = camera.warp_quad(rng, pw, ph, tilt=0.05) + np.float32([max(mx, 0), my])
    camera.paste_plate(canvas, small, quad)
    if mx < 0:  # a box a little inside the plate's ends
        canvas = canvas[:, -mx : cw + mx]
    return camera.degrade(canvas, rng, strength=rng.uniform(0.2, 0.8)), plate


def _band_sample(rng: random.Random, backgrounds: list) -> tuple[list, list]:
    """A synthetic plate's two bands as the model takes them, labelled with their words."""
    crop, plate = state_crop(rng, backgrounds)
    name, slogan = words_of(plate.name)[:9], words_of(plate.slogan)[:9]
    top, bottom = (name, slogan) if plate.name_at_top else (slogan, name)
    return (
        list(model_input(bands(np.ascontiguousarray(crop[..., ::-1])))),  # crop is RGB
        [encode(top), encode(bottom)],
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/state"))
    ap.add_argument("--model", type=Path, default=MODEL, help="the published global OCR")
    ap.add_argument("--synthetic", type=int, default=20000, help="plates (two bands each)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    import torch

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    cache = a.out / f"bands_{a.synthetic}_{a.seed}.npz"
    if cache.exists():
        data = np.load(cache)
        xs, ys = data["xs"], data["ys"]
    else:
        xs, ys = synthetic(a.synthetic, a.seed, a.workers, _band_sample)
        np.savez(cache, xs=xs, ys=ys)
    n_val = len(xs) // 10
    vx, vy, xs, ys = xs[:n_val], ys[:n_val], xs[n_val:], ys[n_val:]
    print(f"data: {len(xs)} bands, {len(vx)} held out ({time.monotonic() - t0:.0f} s)", flush=True)
    model = load_model(a.model)
    before = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    print(f"step 0: held_out {exact(model, vx, vy):.1f} %", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=a.steps, pct_start=0.1)
    rng = np.random.default_rng(a.seed)
    for step in range(1, a.steps + 1):
        i = rng.integers(0, len(xs), a.batch)
        loss = train_step(model, opt, sched, xs[i], ys[i])
        if step % 250 == 0 or step == a.steps:
            print(
                f"step {step}: loss {loss.item():.3f} held_out {exact(model, vx, vy):.1f} % "
                f"({time.monotonic() - t0:.0f} s)",
                flush=True,
            )
    model.eval()
    n = write_back(a.model, before, model, a.out / "words.onnx")
    print(f"wrote {a.out / 'words.onnx'} ({n} weights tuned)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
