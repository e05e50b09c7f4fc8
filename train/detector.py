"""Train alprd's plate detector: a small CenterNet-style network, exported to int8 TFLite.

    KERAS_BACKEND=tensorflow python -m train.detector --epochs 30 --out build/det

Data (all CC BY or synthetic): Open Images "vehicle registration plate" photos with their boxes;
in half of them the labelled plates are covered by synthetic US plates (the label stays right);
plus procedural scenes (train/scenes.py). Output: one tensor [1, S, S, 5] at stride 8 holding
the centre heat map (sigmoid), box width and height in cells, and the centre offset.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

from train.detsamples import load_openimages, sample


def build_model(size: int):
    import keras
    from keras import layers

    def conv(x, f, k=3, s=1):
        x = layers.Conv2D(f, k, strides=s, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU(6.0)(x)

    def block(x, f, s):
        x = layers.DepthwiseConv2D(3, strides=s, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU(6.0)(x)
        return conv(x, f, k=1)

    inp = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inp)
    x = conv(x, 16, s=2)  # /2
    x = block(x, 24, 2)  # /4
    x = block(x, 24, 1)
    x = block(x, 40, 2)  # /8
    c3 = block(x, 40, 1)
    x = block(c3, 64, 2)  # /16
    x = block(x, 64, 1)
    c4 = block(x, 64, 1)
    x = block(c4, 112, 2)  # /32
    x = block(x, 112, 1)
    c5 = block(x, 112, 1)
    p5 = conv(c5, 64, k=1)
    p4 = layers.Add()([layers.UpSampling2D(2)(p5), conv(c4, 64, k=1)])
    p4 = block(p4, 64, 1)
    p3 = layers.Add()([layers.UpSampling2D(2)(p4), conv(c3, 64, k=1)])
    p3 = block(p3, 64, 1)
    heat = layers.Conv2D(
        1, 1, activation="sigmoid", bias_initializer=keras.initializers.Constant(-2.2)
    )(conv(p3, 48))
    reg = layers.Conv2D(4, 1)(conv(p3, 48))
    out = layers.Concatenate(name="det")([heat, reg])
    return keras.Model(inp, out)


def loss_fn(y_true, y_pred, relative_wh: bool = False):
    """CenterNet focal loss on the heat map, L1 on the centre offset, and on box size either
    L1 in cells (weight 0.1; rounds 1 and 2) or, with relative_wh, L1 relative to the true
    size (weight 1): a box a third too wide then costs a small plate what it costs a large
    one. In cells a small plate's loose box cost almost nothing, and boxes stayed loose
    (median IoU with the labels 0.6, even on the training photos)."""
    import tensorflow as tf

    heat_t, wh_t, off_t, mask = y_true[..., 0], y_true[..., 1:3], y_true[..., 3:5], y_true[..., 5]
    heat_p = tf.clip_by_value(y_pred[..., 0], 1e-4, 1 - 1e-4)
    pos = tf.cast(tf.equal(heat_t, 1.0), tf.float32)
    neg = 1.0 - pos
    pos_loss = -tf.math.log(heat_p) * tf.square(1 - heat_p) * pos
    neg_loss = -tf.math.log(1 - heat_p) * tf.square(heat_p) * tf.pow(1 - heat_t, 4) * neg
    n = tf.maximum(tf.reduce_sum(pos), 1.0)
    focal = (tf.reduce_sum(pos_loss) + tf.reduce_sum(neg_loss)) / n
    m = mask[..., None]
    off = tf.reduce_sum(tf.abs(y_pred[..., 3:5] - off_t) * m) / n
    if relative_wh:
        wh = tf.reduce_sum(tf.abs(y_pred[..., 1:3] - wh_t) / tf.maximum(wh_t, 1.0) * m) / n
        return focal + wh + off
    wh = tf.reduce_sum(tf.abs(y_pred[..., 1:3] - wh_t) * m) / n
    return focal + 0.1 * wh + off


def loss_relative(y_true, y_pred):
    return loss_fn(y_true, y_pred, relative_wh=True)


class Batches:
    """A keras PyDataset that renders augmented batches in worker threads."""

    def __new__(cls, *args, **kwargs):
        import keras

        class _B(keras.utils.PyDataset):
            def __init__(
                self, items, size, batch, steps, p_scene, seed, scales, p_distract=0.0, p_dim=0.0
            ):
                super().__init__(workers=2, use_multiprocessing=False)
                self.items, self.size, self.batch, self.steps = items, size, batch, steps
                self.p_scene, self.seed, self.epoch = p_scene, seed, 0
                self.scales, self.p_distract, self.p_dim = scales, p_distract, p_dim

            def __len__(self):
                return self.steps

            def __getitem__(self, idx):
                rng = random.Random(self.seed * 1_000_003 + self.epoch * 10_007 + idx)
                xs, ys = zip(
                    *(
                        sample(
                            self.items,
                            rng,
                            self.size,
                            self.p_scene,
                            self.scales,
                            self.p_distract,
                            self.p_dim,
                        )
                        for _ in range(self.batch)
                    )
                )
                return np.stack(xs).astype(np.float32), np.stack(ys)

            def on_epoch_end(self):
                self.epoch += 1

        return _B(*args, **kwargs)


def export_tflite(model, items, size: int, path: Path, n_calib: int = 200) -> None:
    """Full int8 TFLite with two outputs, heat and geometry, each at its own int8 scale.

    One concatenated output would share a scale with box sizes of up to ~40 cells, leaving
    the heat map about 7 levels (0.15 apart): thresholds would then mean little."""
    import keras
    import tensorflow as tf

    rng = random.Random(7)
    model = keras.Model(model.input, list(model.get_layer("det").input))

    def rep():
        for _ in range(n_calib):
            img, _ = sample(items, rng, size, 0.3)
            yield [img[None].astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.float32
    path.write_bytes(conv.convert())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/det"))
    ap.add_argument("--size", type=int, default=320, help="training input size")
    ap.add_argument(
        "--export-size",
        type=int,
        default=0,
        help="input size of the exported model (fully convolutional; default --size)",
    )
    ap.add_argument(
        "--scales",
        type=float,
        nargs=2,
        default=(0.7, 2.5),
        help="photo scale range, relative to fitting the input (log-uniform)",
    )
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--p-scene", type=float, default=0.25)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--resume", type=Path)
    ap.add_argument(
        "--wh-loss",
        choices=("cells", "relative"),
        default="cells",
        help="box size loss: L1 in cells (rounds 1-2) or relative to the size",
    )
    ap.add_argument(
        "--distractors",
        type=float,
        default=0.0,
        help="share of photos with painted date stamps, sign words and grilles "
        "(hard negatives; round 4 on)",
    )
    ap.add_argument(
        "--dim",
        type=float,
        default=0.0,
        help="share of photos with contrast squeezed to 1/4-1/2 (dusk; round 4 on)",
    )
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    import keras

    a.out.mkdir(parents=True, exist_ok=True)
    items = load_openimages()
    print(f"openimages photos: {len(items)}", flush=True)
    if a.resume:
        model = keras.models.load_model(a.resume, compile=False)
    else:
        model = build_model(a.size)
    if not a.export_only:
        sched = keras.optimizers.schedules.CosineDecay(
            a.lr * 0.1, a.epochs * a.steps, alpha=0.02, warmup_target=a.lr, warmup_steps=a.steps
        )
        model.compile(
            optimizer=keras.optimizers.AdamW(sched, weight_decay=1e-4),
            loss=loss_relative if a.wh_loss == "relative" else loss_fn,
        )
        data = Batches(
            items,
            a.size,
            a.batch,
            a.steps,
            a.p_scene,
            a.seed,
            tuple(a.scales),
            a.distractors,
            a.dim,
        )
        t0 = time.monotonic()
        model.fit(
            data,
            epochs=a.epochs,
            verbose=2,
            callbacks=[
                keras.callbacks.ModelCheckpoint(str(a.out / "last.keras")),
                keras.callbacks.CSVLogger(str(a.out / "log.csv")),
            ],
        )
        print(f"train_time: {time.monotonic() - t0:.0f} s")
    if a.export_size and a.export_size != a.size:  # same weights, larger input
        trained, model = model, build_model(a.export_size)
        model.set_weights(trained.get_weights())
    export_tflite(model, items, a.export_size or a.size, a.out / "detector.tflite")
    print(f"exported: {a.out / 'detector.tflite'}")


if __name__ == "__main__":
    main()
