"""#34 item 2-3: a plate's most probable texts from the readers' per-slot probabilities, and
their mean over views and over a pass."""

import numpy as np
import pytest

from alprd.recognize.nbest import mixture, strings
from alprd.track import PassTracker
from alprd.types import Observation, PlateRead

AL = "AB8_"


def slots(*rows):
    return np.array(rows, np.float32)


def test_the_most_probable_texts_in_order_with_their_probabilities():
    p = slots([0.7, 0.0, 0.3, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0])
    got = strings(p, AL, "_")
    assert [t for t, _ in got] == ["AB", "8B"]
    assert [v for _, v in got] == pytest.approx([0.7, 0.3], abs=1e-4)


def test_texts_that_differ_only_in_their_pads_are_one_text_and_lengths_compete():
    # slot 2 may be empty (0.6) or a B (0.4); slot 1 a pad or an A: "A" = A__ + _A_ ...
    p = slots([1.0, 0.0, 0.0, 0.0], [0.0, 0.4, 0.0, 0.6], [0.0, 0.0, 0.0, 1.0])
    got = dict(strings(p, AL, "_"))
    assert got == pytest.approx({"A": 0.6, "AB": 0.4}, abs=1e-4)
    p = slots([0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.5])
    assert dict(strings(p, AL, "_")) == pytest.approx({"AA": 0.5, "A": 0.5}, abs=1e-4)


def test_improbable_texts_are_dropped_and_k_kept():
    p = slots(*[[0.25, 0.25, 0.25, 0.25]] * 6)  # 4^6 texts, each tiny
    got = strings(p, AL, "_", k=8)
    assert len(got) <= 8 and all(v >= 0.005 for _, v in got)


def test_mixture_is_the_weighted_mean():
    a = (("AB", 0.8), ("8B", 0.2))
    b = (("8B", 0.6), ("AB", 0.3))
    got = dict(mixture([a, b]))
    assert got == pytest.approx({"AB": 0.55, "8B": 0.4})
    assert dict(mixture([a, b], [3, 1]))["AB"] == pytest.approx(0.675)


def test_a_pass_gathers_what_each_frame_doubted():
    """Three frames each give the wanted 8XYZ442 0.3 behind BXYZ442; the pass's mean keeps
    it at 0.3 while a text only one frame doubted fades (0.3 -> 0.1)."""
    t = PassTracker()
    for i, other in enumerate(("BXYZ44Z", "BXY2442", "8XYZ442")):
        cands = (("BXYZ442", 0.6), ("8XYZ442", 0.3), (other, 0.3 if i < 2 else 0.0))
        read = PlateRead(
            "BXYZ442", 0.6, (0.6,) * 7, (10, 10, 60, 30), 0.9, tuple(c for c in cands if c[1])
        )
        t.add(Observation(read, "cam", i * 0.1, np.zeros((4, 4, 3), np.uint8)))
    got = dict(t.expire(1e9, force=True)[0].candidates())
    assert got["8XYZ442"] == pytest.approx(0.3) and got["BXYZ442"] == pytest.approx(0.6)
    assert got["BXYZ44Z"] == pytest.approx(0.1)


def test_a_sighting_without_candidates_counts_its_text_as_certain():
    t = PassTracker()
    t.add(
        Observation(
            PlateRead("ABC123", 0.9, (0.9,) * 6, (0, 0, 50, 20), 0.9),
            "c",
            0.0,
            np.zeros((4, 4, 3), np.uint8),
        )
    )
    assert t.expire(1e9, force=True)[0].candidates() == (("ABC123", 1.0),)
