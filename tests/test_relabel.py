"""train/relabel.py: which readers must agree for a real crop to keep a label."""

from train.relabel import label_of, rule_of


def test_the_strictest_rule_that_holds_is_named():
    assert rule_of("7ABC123", "7ABC123", "7ABC123", 0.5) == "all_three"
    assert rule_of("7ABC123", "7ABC123", "7ABCI23", 0.99) == "ours_and_global"
    assert rule_of("7ABC123", "PC7ABC123", "7ABC123", 0.5) == "teacher_and_one"
    assert rule_of("7ABC128", "PC7ABC123", "7ABC123", 0.95) == "teacher_alone_0.9"
    assert rule_of("7ABC128", "PC7ABC123", "7ABC123", 0.85) is None  # nobody agrees
    assert rule_of("", "", "", 0.0) is None  # agreed on nothing: no plate
    assert rule_of("AB", "AB", "AB", 0.99) is None  # too short for a plate


def test_the_label_is_the_agreed_text():
    assert label_of("ours_and_global", "7ABC123", "7ABCI23") == "7ABC123"
    assert label_of("teacher_and_one", "7ABC128", "7ABC123") == "7ABC123"


def test_ocr_data_takes_the_agreed_labels_and_nothing_else(tmp_path, monkeypatch):
    """make_ocr_data --labels: the crops relabel agreed on, with the agreed text, each in
    several margins; a crop the file does not list is not taken, however sure the teacher."""
    import json

    import cv2
    import numpy as np

    from train.make_ocr_data import real_crops

    folder = tmp_path / "data" / "openimages_plate_crops"
    (folder / "images").mkdir(parents=True)
    lines = []
    for name, teacher in (("a_0.jpg", "TEACHER1"), ("b_0.jpg", "TEACHER2")):
        cv2.imwrite(str(folder / "images" / name), np.full((60, 160, 3), 200, np.uint8))
        lines.append(
            json.dumps(
                {
                    "image": f"images/{name}",
                    "plates": [
                        {
                            "text": None,
                            "bbox": [20, 10, 140, 50],
                            "teacher_text": teacher,
                            "teacher_conf": 0.99,
                        }
                    ],
                }
            )
        )
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        json.dumps(
            {
                "image": "images/a_0.jpg",
                "bbox": [20, 10, 140, 50],
                "text": "7ABC123",
                "rule": "ours_and_global",
            }
        )
        + "\n"
    )
    monkeypatch.setenv("ALPRD_SHARED_DATA", str(tmp_path / "data"))
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    plates = real_crops(out, 0.9, 0.5, 3, 1, labels=labels)
    assert len(plates) == 1 and len(plates[0]) == 3
    assert {text for _, text in plates[0]} == {"7ABC123"}
    assert all((out / path).exists() for path, _ in plates[0])
    # without the file, the teacher's confident texts (as before)
    out2 = tmp_path / "out2"
    (out2 / "images").mkdir(parents=True)
    teacher = real_crops(out2, 0.9, 0.95, 1, 1)
    assert sorted(p[0][1] for p in teacher) == ["TEACHER1", "TEACHER2"]
