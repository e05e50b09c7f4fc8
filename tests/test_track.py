import numpy as np

from alprd.track import PassTracker, edit_distance
from alprd.types import Observation, PlateRead

CROP = np.zeros((20, 40, 3), np.uint8)


def obs(text, box, t, conf=0.9, cam="rear"):
    p = PlateRead(text, conf, tuple([conf] * len(text)), box, 0.9)
    return Observation(p, cam, t, CROP)


def test_edit_distance():
    assert edit_distance("ABC123", "ABC123") == 0
    assert edit_distance("ABC123", "A8C123") == 1
    assert edit_distance("ABC123", "ABC1234") == 1


def test_one_pass_per_vehicle_with_vote():
    tr = PassTracker(gap_s=1.0)
    texts = ["7ABC123", "7A8C123", "7ABC123", "7ABC128", "7ABC123"]
    for i, t in enumerate(texts):
        x = 100 + i * 10
        tr.add(obs(t, (x, 200, x + 80, 240), 10.0 + i * 0.1))
    assert tr.expire(10.9) == []  # still open
    done = tr.expire(12.0)
    assert len(done) == 1
    text, confs = done[0].text()
    assert text == "7ABC123"
    assert len(done[0].sightings) == 5


def test_two_cars_in_view_are_two_passes():
    tr = PassTracker(gap_s=1.0)
    for i in range(4):
        tr.add(obs("7ABC123", (100, 200, 180, 240), 10 + i * 0.1))
        tr.add(obs("5XYZ999", (900, 300, 980, 340), 10 + i * 0.1))
    done = tr.expire(20.0)
    assert sorted(p.text()[0] for p in done) == ["5XYZ999", "7ABC123"]


def test_same_plate_after_a_gap_is_a_new_pass():
    tr = PassTracker(gap_s=1.0)
    tr.add(obs("7ABC123", (100, 200, 180, 240), 10.0))
    assert len(tr.expire(12.0)) == 1
    tr.add(obs("7ABC123", (100, 200, 180, 240), 12.5))
    assert len(tr.expire(14.0)) == 1


def test_best_crop_is_most_confident():
    tr = PassTracker(gap_s=1.0)
    tr.add(obs("7ABC123", (100, 200, 180, 240), 10.0, conf=0.5))
    tr.add(obs("7ABC123", (105, 200, 185, 240), 10.1, conf=0.95))
    p = tr.expire(20.0)[0]
    assert p.best().plate.confidence == 0.95


def test_vote_confidence_reflects_both_certainty_and_agreement():
    tr = PassTracker(gap_s=1.0)
    for i, t in enumerate(["AB1", "AB1", "AB1", "A81"]):
        tr.add(obs(t, (100, 200, 180, 240), 10 + i * 0.1, conf=0.8))
    text, confs = tr.expire(20.0)[0].text()
    assert text == "AB1"
    assert confs == (0.8, 0.6, 0.8)
