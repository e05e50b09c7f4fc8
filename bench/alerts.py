"""Alerts, as the officer sees them: a wanted car that passes alerts, an innocent one does not.

    python bench/alerts.py ../shared/data/us_e2e_dev [--decoys 2000000] [--limit N]

The hotlist is every labelled plate of FOLDER (with its state where the label has one) and
--decoys plates drawn from realistic per-state formats, weighted as a Western fleet's list
(FORMATS: California's 1ABC234 is a third of it; a real list is dense in a few formats, so a
read's in-format neighbours land on it far more often than on uniformly random strings).
Each image is read as the daemon reads a frame (full frames: the detector, then the readers;
a crop folder: the readers on the labelled box) and each read is matched with the daemon's
hotlist rules (HotlistConfig's defaults: look-alike classes, one substitution). Prints:

- alert_recall: labelled plates whose read alerts on the plate's own entry, single frame;
- false_alerts_per_1000_reads: alerts on any entry that is not the plate's own, per 1,000
  reads (unlabelled plates and false reads included);
- innocent_neighbour_alert_rate: the same reads against the list with each labelled plate
  replaced by a neighbour one character away (half of them a look-alike of the confusion
  classes, half any other character): the car in the image is innocent, and this is how
  often it alerts all the same (the card then shows the differing character highlighted,
  UNVERIFIED, for the officer to compare with the crop);
- alert_recall_pass: per simulated pass. From each still, --pass-frames frames of an
  approach (the still at 0.55 to 1.0 of its size, a crop window that moves, horizontal motion
  blur, JPEG at quality 70-90), read through the daemon's own pass tracker; the pass's voted
  text is matched once. The pixels are real, the motion is synthetic. And
  false_alerts_per_1000_passes;
- false_alerts_expected_per_1000_reads: the same, as the chance that a list drawn from
  FORMATS holds each text a read would alert on (the read's, its look-alikes, its n-best
  candidates), summed: the counted figure rests on a few hundred reads and a handful of
  alerts, this one on every text the rules reach;
- match_ms_p99: one read (with its candidates) matched against the whole list (2 M entries
  by default).

Every read is matched as the daemon matches it: its text by the hotlist's rules and its
candidates (the texts the readers found probable: alprd/recognize/nbest.py) at
hotlist.nbest_min_probability or more (--min-probability to try another).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alprd.config import HotlistConfig  # noqa: E402
from alprd.hotlist import Hotlist  # noqa: E402
from alprd.hotlist.index import fold_table  # noqa: E402
from alprd.recognize.recognizer import Recognizer  # noqa: E402
from alprd.track import PassTracker  # noqa: E402
from alprd.types import HotlistEntry, Observation, PlateRead  # noqa: E402
from bench.accuracy import clean, is_crop_set  # noqa: E402  the same labels, read alike

LETTERS, DIGITS = "ABCDEFGHJKLMNPRSTUVWXYZ", "0123456789"  # I, O, Q: not issued in most states
# (state, serial format, share of the list): L letter, D digit, X either. California leads a
# Western agency's list; the rest as the big states issue them, and vanity plates.
FORMATS = (
    ("CA", "DLLLDDD", 0.34),
    ("CA", "DLLLDD", 0.02),
    ("NV", "DDLDDD", 0.04),
    ("NV", "LLLDDD", 0.02),
    ("AZ", "LLLDDDD", 0.06),
    ("OR", "DDDLLL", 0.03),
    ("WA", "LLLDDDD", 0.05),
    ("TX", "LLLDDDD", 0.10),
    ("TX", "LLDLDDD", 0.02),
    ("FL", "LLLLDD", 0.05),
    ("NY", "LLLDDDD", 0.06),
    ("IL", "LLDDDDD", 0.04),
    ("GA", "LLLDDDD", 0.03),
    ("NC", "LLLDDDD", 0.03),
    ("PA", "LLLDDDD", 0.03),
    (None, "XXXXXX", 0.02),
    (None, "XXXXX", 0.02),
    (None, "XXXXXXX", 0.04),
)


def decoy_plates(n: int, rng: random.Random) -> list[tuple[str, str | None]]:
    """n (plate, state) drawn from FORMATS by share."""
    weights = [w for _, _, w in FORMATS]
    out = []
    for state, fmt, _ in rng.choices(FORMATS, weights, k=n):
        out.append(
            (
                "".join(
                    rng.choice(LETTERS if c == "L" else DIGITS if c == "D" else LETTERS + DIGITS)
                    for c in fmt
                ),
                state,
            )
        )
    return out


def entries(plates) -> list[HotlistEntry]:
    return [
        HotlistEntry(p, st, "stolen_vehicle", "bench", 1, f"B{i}")
        for i, (p, st) in enumerate(plates)
    ]


def neighbour(plate: str, confusions, rng: random.Random) -> str:
    """A plate one character away: half the time a look-alike (a character of a confusion
    class with the one read), else any other character."""
    i = rng.randrange(len(plate))
    alike = sorted({c for g in confusions if plate[i] in g for c in g} - {plate[i]})
    pool = (
        alike
        if alike and rng.random() < 0.5
        else [c for c in LETTERS + DIGITS + "IOQ" if c != plate[i]]
    )
    return plate[:i] + rng.choice(pool) + plate[i + 1 :]


def density(text: str, n: int) -> float:
    """The chance that a list of n plates drawn from FORMATS holds text."""
    q = 0.0
    for _, fmt, share in FORMATS:
        if len(fmt) != len(text):
            continue
        size = 1
        for ch, f in zip(text, fmt):
            pool = LETTERS if f == "L" else DIGITS if f == "D" else LETTERS + DIGITS
            if ch not in pool:
                break
            size *= len(pool)
        else:
            q += share / size
    return 1 - (1 - q) ** n


def reachable(text: str, cands, cfg: HotlistConfig) -> set[str]:
    """Every plate an entry could hold and alert on this read: the text and the candidates
    at the threshold, each with its look-alikes (up to max_substitutions), the text's
    one-off variants where that rule is on."""
    fold = fold_table(cfg.confusions)  # the index's classes: overlapping sets merged
    alikes = {c: [o for o in fold if o != c and fold[o] == fold[c]] for c in fold}

    def alike(t: str, n: int) -> set[str]:
        out = {t}
        for _ in range(n):
            out |= {
                v[:i] + o + v[i + 1 :]
                for v in out
                for i, c in enumerate(v)
                for o in alikes.get(c, ())
            }
        return out

    out = alike(text, cfg.max_substitutions)
    if cfg.one_off:
        out |= {text[:i] + text[i + 1 :] for i in range(len(text))}
        out |= {text[:i] + c + text[i:] for i in range(len(text) + 1) for c in LETTERS + DIGITS}
    for t, p in cands:
        if p >= cfg.nbest_min_probability:
            out |= alike(t, cfg.max_substitutions)
    return {t for t in out if 3 <= len(t) <= 8}


def read_crop(rec: Recognizer, img, box) -> list[tuple[PlateRead, object]]:
    """The readers on a labelled box, as the daemon keeps a read (min_chars, min_confidence):
    [(read, crop)], or [] where it would drop it."""
    res, crop = rec.read_box(img, box)
    if len(res.text) < rec.min_chars or res.confidence < rec.min_confidence:
        return []
    return [
        (
            PlateRead(
                res.text, res.confidence, res.char_confidences, tuple(box), 1.0, res.candidates
            ),
            crop,
        )
    ]


def read_image(rec: Recognizer, img, label_box, crops: bool) -> list[PlateRead]:
    """What the daemon would read on this image (one per plate read)."""
    plates = read_crop(rec, img, label_box) if crops else rec(img)
    return [p for p, _ in plates]


def approach(img, box, frames: int, rng: random.Random):
    """frames views of a still as a car nearing the camera: (image, the box in it)."""
    h, w = img.shape[:2]
    out = []
    for t in range(frames):
        s = 0.55 + 0.45 * t / max(1, frames - 1)
        small = cv2.resize(
            img, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA
        )
        sh, sw = small.shape[:2]
        # a window 92 % of the frame that slides across it
        ww, wh = max(8, round(sw * 0.92)), max(8, round(sh * 0.92))
        ox, oy = round((sw - ww) * t / max(1, frames - 1)), round((sh - wh) * rng.random())
        view = small[oy : oy + wh, ox : ox + ww]
        k = rng.choice((1, 3, 5))
        if k > 1:
            view = cv2.filter2D(view, -1, np.full((1, k), 1.0 / k, np.float32))
        ok, jpg = cv2.imencode(".jpg", view, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(70, 90)])
        view = cv2.imdecode(jpg, cv2.IMREAD_COLOR)
        b = [box[0] * s - ox, box[1] * s - oy, box[2] * s - ox, box[3] * s - oy]
        b = [round(min(max(v, 0), (ww if i % 2 == 0 else wh) - 1)) for i, v in enumerate(b)]
        out.append((view, b))
    return out


def read_pass(rec: Recognizer, views, crops: bool) -> list[tuple[str, tuple]]:
    """The passes after the views went through the daemon's tracker: each pass's voted text
    and its candidates (the mean of its sightings', as the daemon matches them)."""
    tracker = PassTracker(gap_s=1.5, max_pass_s=30.0)
    for t, (view, box) in enumerate(views):
        for p, crop in read_crop(rec, view, box) if crops else rec(view):
            tracker.add(Observation(p, "sim", t * 0.1, crop, 0.0))
    return [(p.text()[0], p.candidates()) for p in tracker.expire(1e9, force=True)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--decoys", type=int, default=2_000_000)
    ap.add_argument("--limit", type=int, default=0, help="the first N labelled images only")
    ap.add_argument("--half", choices=("even", "odd"), help="every other image only")
    ap.add_argument(
        "--pass-frames", type=int, default=8, help="frames of each simulated pass (0: no passes)"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--one-off",
        choices=("on", "off"),
        help="the one-off rule (a lost or extra character), default as shipped",
    )
    ap.add_argument(
        "--min-probability",
        type=float,
        help="hotlist.nbest_min_probability (1.01: the read's text alone)",
    )
    ap.add_argument("--confusions", help="look-alike classes, comma-separated (O0,I1,B8)")
    ap.add_argument("--ocr", type=Path, help="another OCR .tflite (default: the shipped one)")
    a = ap.parse_args()
    rng = random.Random(a.seed)  # the lists
    sim = random.Random(a.seed + 1)  # the passes' motion: the same whatever the list's size
    items = [json.loads(line) for line in (a.folder / "manifest.jsonl").read_text().splitlines()]
    items = [it for it in items if any(clean(p.get("text")) for p in it["plates"])]
    if a.half:
        items = items[0 if a.half == "even" else 1 :: 2]
    if a.limit:
        items = items[: a.limit]
    crops = is_crop_set(items)
    cfg = HotlistConfig(
        **({"one_off": a.one_off == "on"} if a.one_off else {}),
        **({"nbest_min_probability": a.min_probability} if a.min_probability is not None else {}),
        **({"confusions": a.confusions.split(",")} if a.confusions else {}),
    )
    # a hotlist takes 2-8 characters (the CSV, the protocol's schema, the index): a longer
    # label (a vanity message on a frame) cannot be wanted and is left out, and counted
    too_long = sum(len(clean(p.get("text"))) > 8 for it in items for p in it["plates"])
    items = [it for it in items if any(2 <= len(clean(p.get("text"))) <= 8 for p in it["plates"])]
    labelled = [
        [
            (clean(p["text"]), p.get("state") or None, p["bbox"])
            for p in it["plates"]
            if 2 <= len(clean(p.get("text"))) <= 8
        ]
        for it in items
    ]
    own = {(t, st) for plates in labelled for t, st, _ in plates}
    decoys = decoy_plates(a.decoys, rng)
    t0 = time.monotonic()
    wanted, innocent = Hotlist.from_config(cfg), Hotlist.from_config(cfg)  # the daemon's rules
    wanted.replace(entries(sorted(own, key=str) + decoys))
    near = {t: neighbour(t, cfg.confusions, rng) for t, _ in sorted(own, key=str)}
    innocent.replace(entries([(near[t], st) for t, st in sorted(own, key=str)] + decoys))
    print(f"(lists built in {time.monotonic() - t0:.0f} s: {len(wanted)} entries)", file=sys.stderr)
    rec = Recognizer(threads=a.threads, ocr=a.ocr)
    plates_n = reads_n = alerted = false_alerts = neighbour_alerts = 0
    expected = 0.0
    pass_alerted = passes_n = pass_false = 0
    pass_expected = 0.0
    match_ms = []
    for it, plates in zip(items, labelled):
        img = cv2.imread(str(a.folder / it["image"]))
        reads = read_image(rec, img, plates[0][2], crops)
        reads_n += len(reads)
        mine = {t for t, _, _ in plates}
        neighbours = {near[t] for t in mine}
        hit_entries = set()
        for r in reads:
            t1 = time.perf_counter()
            matches = wanted.match(r.text, candidates=r.candidates)
            match_ms.append((time.perf_counter() - t1) * 1000)
            hit_entries |= {m.entry.plate for m in matches}
            false_alerts += sum(m.entry.plate not in mine for m in matches)
            expected += sum(
                density(t, a.decoys) for t in reachable(r.text, r.candidates, cfg) if t not in mine
            )
            neighbour_alerts += any(
                m.entry.plate in neighbours for m in innocent.match(r.text, candidates=r.candidates)
            )
        plates_n += len(plates)
        alerted += sum(t in hit_entries for t in mine)
        if a.pass_frames:
            views = approach(img, plates[0][2], a.pass_frames, sim)
            voted = read_pass(rec, views, crops)
            passes_n += 1
            hits = {m.entry.plate for v, cands in voted for m in wanted.match(v, candidates=cands)}
            pass_alerted += plates[0][0] in hits
            pass_false += len(hits - mine)
            pass_expected += sum(
                density(t, a.decoys)
                for v, cands in voted
                for t in reachable(v, cands, cfg)
                if t not in mine
            )
    print(f"images: {len(items)}")
    print(f"labels_left_out: {too_long} plates (over 8 characters: no hotlist holds them)")
    print(f"mode: {'crops (the readers on the labelled box)' if crops else 'full frames'}")
    print(
        f"hotlist_entries: {len(wanted)} entries (one-off rule {'on' if cfg.one_off else 'off'}, "
        f"look-alikes {','.join(cfg.confusions) or 'none'}, candidates from "
        f"{cfg.nbest_min_probability:g})"
    )
    print(f"alert_recall: {100 * alerted / plates_n:.1f} %")
    print(f"false_alerts_per_1000_reads: {1000 * false_alerts / max(1, reads_n):.2f} alerts")
    print(f"false_alerts_expected_per_1000_reads: {1000 * expected / max(1, reads_n):.2f} alerts")
    print(f"innocent_neighbour_alert_rate: {100 * neighbour_alerts / plates_n:.1f} %")
    if passes_n:
        print(f"alert_recall_pass: {100 * pass_alerted / passes_n:.1f} %")
        print(f"false_alerts_per_1000_passes: {1000 * pass_false / passes_n:.2f} alerts")
        print(
            f"false_alerts_expected_per_1000_passes: {1000 * pass_expected / passes_n:.2f} alerts"
        )
    match_ms.sort()
    if match_ms:
        print(f"match_ms_median: {statistics.median(match_ms):.3f} ms")
        print(f"match_ms_p99: {match_ms[int(0.99 * (len(match_ms) - 1))]:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
