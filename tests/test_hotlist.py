"""Hotlist matching: exact, every look-alike rule, states, expiry, skip list, updates."""

import threading
import time

import pytest

from alprd.hotlist import Hotlist, HotlistError, read_csv
from alprd.hotlist.index import DEFAULT_CONFUSIONS, WIDE_CONFUSIONS, Index, fold_table, pack, unpack
from alprd.hotlist.matcher import Matcher
from alprd.types import HotlistEntry as E

LIST = [
    E("8XYZ442", "CA", "stolen_vehicle", "stolen"),
    E("ABC1230", None, "bolo", "bolo"),
    E("7SGZ105", "NV", "wanted_person", "warrant"),
    E("UV4IT", "TX", "amber", "amber"),
]


def rules(m, text, state=None):
    return [(x.entry.plate, x.rule, x.differs) for x in m.match(text, state)]


def test_pack_round_trip():
    for t in ("A", "8XYZ442", "ZZZZZZZZ", "0123456"):
        assert unpack(pack(t)) == t


def test_exact_on_plate_and_state():
    m = Hotlist(LIST)
    assert rules(m, "8XYZ442", "CA") == [("8XYZ442", "exact", ())]
    assert m.match("8XYZ442", "CA")[0].state_rule == "same"


@pytest.mark.parametrize(
    "read,entry,pos",
    [
        ("BXYZ442", "8XYZ442", 0),  # B/8
        ("ABCI230", "ABC1230", 3),  # I/1
        ("ABC123O", "ABC1230", 6),  # O/0
        ("ABC123D", "ABC1230", 6),  # D/0
        ("ABC123Q", "ABC1230", 6),  # Q/0
        ("75GZ105", "7SGZ105", 1),  # S/5
        ("7S6Z105", "7SGZ105", 2),  # G/6
        ("7SG2105", "7SGZ105", 3),  # Z/2
        ("VV4IT", "UV4IT", 0),  # U/V
        ("UV41T", "UV4IT", 3),  # I/1
        ("UVAIT", "UV4IT", 2),  # A/4
        ("UV4IL", "UV4IT", 4),  # T/L (I/1/L/T)
    ],
)
def test_each_look_alike_rule_names_the_differing_character(read, entry, pos):
    got = rules(Hotlist(LIST, confusions=WIDE_CONFUSIONS), read)
    assert got == [(entry, "look-alike", (pos,))]


def test_two_substitutions_do_not_hit_when_n_is_1():
    m = Hotlist(LIST, max_substitutions=1, confusions=WIDE_CONFUSIONS)
    assert rules(m, "BXY2442") == []
    assert rules(Hotlist(LIST, max_substitutions=2, confusions=WIDE_CONFUSIONS), "BXY2442") == [
        ("8XYZ442", "look-alike", (0, 3))
    ]


def test_unrelated_characters_never_hit():
    assert rules(Hotlist(LIST), "8XYZ443") == []  # 2 and 3 are not look-alikes


def test_one_missing_or_extra_character_only_when_enabled():
    off, on = Hotlist(LIST), Hotlist(LIST, one_off=True)
    assert rules(off, "8XYZ42") == [] and rules(off, "8XYZ4422") == []
    assert rules(on, "8XYZ42")[0][:2] == ("8XYZ442", "missing-character")
    assert rules(on, "8XYZ4422")[0][:2] == ("8XYZ442", "extra-character")


def test_state_rules():
    m = Hotlist(LIST)
    assert m.match("8XYZ442", "NV")[0].state_rule == "state-mismatch"
    assert m.match("8XYZ442", None)[0].state_rule == "read-state-unknown"
    assert m.match("ABC1230", "OR")[0].state_rule == "entry-any-state"
    assert Hotlist(LIST, state_mismatch="ignore").match("8XYZ442", "NV") == []


def test_unknown_state_codes_are_kept_as_given():
    m = Hotlist([E("QQ12345", "ZZ", "agency", "test")])
    assert m.match("QQ12345", "ZZ")[0].state_rule == "same"
    assert m.match("QQ12345", "CA")[0].state_rule == "state-mismatch"


def test_expired_entries_do_not_hit():
    now = time.time()
    m = Hotlist(
        [
            E("OLD1234", None, "bolo", "x", expires=now - 1),
            E("NEW1234", None, "bolo", "x", expires=now + 3600),
        ]
    )
    assert m.match("OLD1234") == [] and m.match("NEW1234")


@pytest.mark.parametrize("read", ["", "AB", "1111111", "0000", "TEST"])
def test_degenerate_reads_are_skipped(read):
    m = Hotlist(
        [E(read or "X", None, "bolo", "x") if len(read) > 1 else E("ZZ", None, "bolo", "x")],
        skip=("TEST",),
    )
    assert m.match(read) == []


def test_overlapping_confusion_sets_merge():
    fold = fold_table(["O0", "0D", "B8"])
    assert fold["O"] == fold["0"] == fold["D"] and fold["B"] == fold["8"]


def test_update_swaps_without_pausing_matching():
    base = Index.build([E(f"P{i:06d}", None, "bolo", "x") for i in range(50_000)])
    m = Matcher(base)
    errors = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            got = m.match("P000123")
            if not got or got[0].entry.plate != "P000123":
                errors.append(got)

    t = threading.Thread(target=reader)
    t.start()
    new = base.with_changes([E("NEW0001", "CA", "amber", "y")], [("P000999", None)], 2)
    m.swap(new)
    time.sleep(0.05)
    stop.set()
    t.join()
    assert not errors
    assert m.match("NEW0001") and not m.match("P000999") and m.index.version == 2
    assert len(m.index) == 50_000


def test_index_survives_save_and_load(tmp_path):
    idx = Index.build(LIST, version=7)
    idx.save(tmp_path / "h.npz")
    back = Index.load(tmp_path / "h.npz")
    assert back.version == 7
    key = lambda e: e.plate  # noqa: E731
    assert sorted((back.entry(i) for i in range(len(back))), key=key) == sorted(LIST, key=key)


def test_csv_with_a_bad_row_is_refused_whole(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("plate,state,list_type,reason\n8XYZ442,CA,stolen_vehicle,x\nABC,CA,not_a_list,y\n")
    with pytest.raises(HotlistError, match="row 3: unknown list_type"):
        read_csv(p)


def test_control_characters_in_a_reason_cannot_break_matching():
    """Found by the long fuzz run (#23 item 1): a signed entry whose reason held the index's
    internal field separator (0x1f) made every match on that plate raise ValueError, which
    would have stopped the pipeline at each read of it. Control characters now become spaces."""
    from alprd.types import HotlistEntry as E

    idx = Index.build(
        [
            E(
                "10000000",
                "CA",
                "stolen_vehicle",
                "stolen\x1fthen\x00sold\nagain",
                source="NCIC\x1f",
                entered_utc="2026\x1f",
            )
        ]
    )
    m = Matcher(idx).match("10000000", "CA")
    assert len(m) == 1 and m[0].entry.reason == "stolen then sold again"
    assert m[0].entry.source == "NCIC " and m[0].entry.entered_utc == "2026 "


# -- #34: the shipped look-alike classes and the readers' candidates (n-best) ------------------


def test_shipped_classes_are_o0_and_i1_only():
    """B/8, S/5, M/N ... cost false alerts against a realistic list and are left to the
    readers' doubts (n-best); O/0 and I/1 stay (no state issues O or I in most serials)."""
    assert DEFAULT_CONFUSIONS == ("O0", "I1")
    m = Hotlist(LIST)
    assert rules(m, "ABC123O") == [("ABC1230", "look-alike", (6,))]
    assert rules(m, "ABCI230") == [("ABC1230", "look-alike", (3,))]
    assert rules(m, "BXYZ442") == []  # no longer a look-alike by itself


def test_a_candidate_the_readers_found_probable_hits_as_n_best():
    m = Hotlist(LIST)  # min_probability 0.1
    cands = (("BXYZ442", 0.62), ("8XYZ442", 0.31), ("BXYZ44Z", 0.04))
    got = m.match("BXYZ442", "CA", candidates=cands)
    assert [(x.entry.plate, x.rule, x.differs, x.candidate, x.probability) for x in got] == [
        ("8XYZ442", "n-best", (0,), "8XYZ442", 0.31)
    ]
    # under the threshold: no hit
    assert m.match("BXYZ442", "CA", candidates=(("8XYZ442", 0.09),)) == []
    assert (
        Hotlist(LIST, min_probability=0.05)
        .match("BXYZ442", candidates=(("8XYZ442", 0.09),))[0]
        .rule
        == "n-best"
    )


def test_a_candidate_of_another_length_hits_with_the_first_differing_position():
    got = Hotlist(LIST).match("7SGZ1055", candidates=(("7SGZ105", 0.2),))
    assert [(x.entry.plate, x.rule, x.differs) for x in got] == [("7SGZ105", "n-best", (7,))]


def test_the_reads_own_match_comes_first_and_is_not_repeated_by_a_candidate():
    got = Hotlist(LIST).match("8XYZ442", "CA", candidates=(("8XYZ442", 0.7), ("8XYZ4A2", 0.2)))
    assert [(x.rule, x.candidate, x.probability) for x in got] == [("exact", "8XYZ442", 0.7)]


def test_candidates_never_use_the_one_off_rule_and_skip_degenerate_texts():
    m = Hotlist(LIST, one_off=True)
    assert m.match("QQQQ", candidates=(("8XYZ44", 0.5), ("888", 0.5))) == []
    assert Hotlist(LIST, skip=("8XYZ442",)).match("BXYZ442", candidates=(("8XYZ442", 0.9),)) == []


def test_the_state_rule_holds_for_candidates():
    m = Hotlist(LIST, state_mismatch="ignore")
    assert m.match("BXYZ442", "NV", candidates=(("8XYZ442", 0.5),)) == []
    assert m.match("BXYZ442", "CA", candidates=(("8XYZ442", 0.5),))[0].state_rule == "same"
