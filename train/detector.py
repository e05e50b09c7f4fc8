"""Train alprd's plate detector: a small CenterNet-style network, exported to int8 TFLite.

    KERAS_BACKEND=tensorflow python -m train.detector --epochs 30 --out build/det

Data (all CC BY or synthetic): Open Images "vehicle registration plate" photos with their boxes;
in half of them the labelled plates are covered by synthetic US plates (the label stays right);
plus procedural scenes (train/scenes.py). Output: one tensor [1, S, S, 5] at stride 8 holding
the centre heat map (sigmoid), box width and height in cells, and the centre offset.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

import cv2
import numpy as np

from train import camera, fonts, scenes, synth

STRIDE = 8


def shared_data() -> Path:
    return Path(os.environ.get("ALPRD_SHARED_DATA", "../shared/data"))


def load_openimages(limit: int | None = None):
    folder = shared_data() / "openimages_plates"
    items = []
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        item = json.loads(line)
        img = cv2.imread(str(folder / item["image"]))
        if img is None:
            continue
        boxes = np.float32([p["bbox"] for p in item["plates"]]).reshape(-1, 4)
        items.append((img[..., ::-1].copy(), boxes))
        if limit and len(items) >= limit:
            break
    return items


def cover_with_synthetic(img: np.ndarray, boxes: np.ndarray, rng: random.Random) -> None:
    for x1, y1, x2, y2 in boxes:
        w, h = x2 - x1, y2 - y1
        if w < 12 or h < 6:
            continue
        plate = synth.render_plate(rng)
        # a US plate is 2:1; fit it into the labelled box, touching its width
        quad = camera.warp_quad(rng, w, h, tilt=0.04) + np.float32([x1, y1])
        camera.paste_plate(img, plate.image, quad)


SIGN_WORDS = (
    "PRIVATE",
    "PROPERTY",
    "TAXI",
    "CAUTION",
    "STOP",
    "FREQUENT STOPS",
    "NO PARKING",
    "EXIT",
    "CHEVROLET",
    "TOYOTA",
    "HONDA",
    "FORD",
    "TITAN",
    "HYBRID",
    "AWD",
    "SPORT",
    "LIMITED",
    "DELIVERY",
    "PLUMBING",
    "CALL NOW",
    "REFERRAL",
    "ONE WAY",
    "SPEED LIMIT 35",
    "SCHOOL BUS",
)


def _free_spot(rng: random.Random, boxes: np.ndarray, w: int, h: int, tw: int, th: int):
    """Top-left corner of a tw x th patch clear of every plate box (with a margin), or None."""
    for _ in range(20):
        x, y = rng.randint(0, max(0, w - tw)), rng.randint(0, max(0, h - th))
        if all(
            x + tw < bx1 - 4 or x > bx2 + 4 or y + th < by1 - 4 or y > by2 + 4
            for bx1, by1, bx2, by2 in boxes
        ):
            return x, y
    return None


def paint_distractors(img: np.ndarray, boxes: np.ndarray, rng: random.Random) -> None:
    """Plate-like things that are not plates, painted clear of the plates (in place):
    a camera's date and time stamp, a sign or badge word, a grille of vertical slots. On
    us_e2e_dev these made most of the detector's false reads (date stamps read as
    14005, drain grates as 11111111, PRIVATE PROPERTY, CHEVROLET)."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = img.shape[:2]
    body, header = fonts.debian()
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    for _ in range(rng.choice((1, 1, 2, 3))):
        kind = rng.random()
        th = int(np.clip(rng.lognormvariate(np.log(max(12, h * 0.04)), 0.4), 8, h // 4))
        if kind < 0.45:  # date / time stamp, light on the picture, often two lines
            stamp = (
                f"{rng.randint(2005, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
            )
            lines = stamp if rng.random() < 0.6 else (" ".join(stamp),)
            font = ImageFont.truetype(rng.choice(body), th)
            tw = max(int(font.getlength(t)) for t in lines) + 4
            spot = _free_spot(rng, boxes, w, h, tw, th * len(lines) + 6)
            if spot is None:
                continue
            ink = rng.choice(((255, 255, 255), (255, 255, 0), (240, 240, 240), (255, 160, 0)))
            for i, t in enumerate(lines):
                draw.text(
                    (spot[0], spot[1] + i * (th + 3)),
                    t,
                    font=font,
                    fill=ink,
                    stroke_width=rng.choice((0, 1, 2)),
                    stroke_fill=(0, 0, 0),
                )
        elif kind < 0.8:  # a word on a sign or a badge
            word = rng.choice(SIGN_WORDS)
            font = ImageFont.truetype(rng.choice(body + header), th)
            tw = int(font.getlength(word)) + 2 * (th // 3)
            spot = _free_spot(rng, boxes, w, h, tw, int(th * 1.6))
            if spot is None:
                continue
            bg = tuple(rng.randint(0, 255) for _ in range(3))
            ink = (
                tuple(255 - c for c in bg)
                if rng.random() < 0.7
                else tuple(rng.randint(0, 255) for _ in range(3))
            )
            if rng.random() < 0.6:
                draw.rectangle([spot[0], spot[1], spot[0] + tw, spot[1] + int(th * 1.6)], fill=bg)
            draw.text((spot[0] + th // 3, spot[1] + th // 5), word, font=font, fill=ink)
        else:  # a grille or drain: a row of dark vertical slots
            tw = int(th * rng.uniform(2.0, 5.0))
            spot = _free_spot(rng, boxes, w, h, tw, th)
            if spot is None:
                continue
            x0, y0 = spot
            shade = rng.randint(0, 80)
            n = rng.randint(6, 16)
            for k in range(n):
                x = x0 + int(k * tw / n)
                draw.rectangle(
                    [x, y0, x + max(1, tw // (n * 2)), y0 + th], fill=(shade, shade, shade)
                )
    img[:] = np.asarray(pil)


def low_contrast(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Dusk or a dim street light: contrast squeezed to a quarter to a half, darker."""
    k = rng.uniform(0.25, 0.5)
    f = img.astype(np.float32)
    out = (f - f.mean()) * k + f.mean() * rng.uniform(0.3, 0.8)
    return np.clip(out, 0, 255).astype(np.uint8)


def random_affine(
    img: np.ndarray,
    boxes: np.ndarray,
    size: int,
    rng: random.Random,
    scales: tuple[float, float] = (0.7, 2.5),
):
    """Scale (log-uniform in scales, relative to fitting the photo), shift and flip."""
    h, w = img.shape[:2]
    fit = size / max(h, w)
    s = fit * float(np.exp(rng.uniform(np.log(scales[0]), np.log(scales[1]))))
    tx = rng.uniform(min(0, size - w * s), max(0, size - w * s))
    ty = rng.uniform(min(0, size - h * s), max(0, size - h * s))
    m = np.float32([[s, 0, tx], [0, s, ty]])
    out = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=(114, 114, 114))
    b = boxes * s + np.float32([tx, ty, tx, ty])
    b = np.clip(b, 0, size)
    keep = ((b[:, 2] - b[:, 0]) >= 3) & ((b[:, 3] - b[:, 1]) >= 2)
    if rng.random() < 0.5:
        out = out[:, ::-1].copy()
        b = b[:, [2, 1, 0, 3]] * np.float32([-1, 1, -1, 1]) + np.float32([size, 0, size, 0])
    return out, b[keep]


def make_target(boxes: np.ndarray, size: int) -> np.ndarray:
    g = size // STRIDE
    target = np.zeros((g, g, 6), np.float32)  # heat, w, h, off_x, off_y, mask
    yy, xx = np.mgrid[0:g, 0:g]
    for x1, y1, x2, y2 in boxes:
        cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
        bw, bh = (x2 - x1) / STRIDE, (y2 - y1) / STRIDE
        ix, iy = min(int(cx), g - 1), min(int(cy), g - 1)
        sigma = max(0.5, 0.15 * (bw + bh))
        heat = np.exp(-((xx - cx + 0.5) ** 2 + (yy - cy + 0.5) ** 2) / (2 * sigma * sigma))
        target[..., 0] = np.maximum(target[..., 0], heat)
        target[iy, ix, 0] = 1.0
        target[iy, ix, 1:6] = (bw, bh, cx - ix, cy - iy, 1.0)
    return target


def sample(
    items,
    rng: random.Random,
    size: int,
    p_scene: float,
    scales: tuple[float, float] = (0.7, 2.5),
    p_distract: float = 0.0,
    p_dim: float = 0.0,
):
    if rng.random() < p_scene:
        img, plates = scenes.scene(rng, h=rng.choice((480, 720)), w=rng.choice((854, 1280)))
        boxes = np.float32(
            [[q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()] for q, _, _ in plates]
        )
    else:
        img, boxes = items[rng.randrange(len(items))]
        img = img.copy()
        if rng.random() < 0.5:
            cover_with_synthetic(img, boxes, rng)
    if p_distract and rng.random() < p_distract:
        paint_distractors(img, boxes, rng)
    img, boxes = random_affine(img, boxes, size, rng, scales)
    if p_dim and rng.random() < p_dim:
        img = low_contrast(img, rng)
    if rng.random() < 0.5:
        img = camera.degrade(img, rng, strength=0.5)
    return img, make_target(boxes, size)


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
