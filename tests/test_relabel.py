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
