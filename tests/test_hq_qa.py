"""#37 item 3: the QA crop set at HQ: only hits an officer confirmed or corrected, with crop,
text, state, camera and model version; for system administrators with a purpose, each export
in the access log (POL-06, POL-17); built from the stored reads, so retention removes from it
what it removes from them (POL-09); in the format train/agency_crops.py reads. Both back ends."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from alprd.hq import open_store
from alprd.protocol import retention, roster_user
from alprd.recognize.recognizer import MARGIN_X, MARGIN_Y
from tests.test_hq_quality import verdict

ROOT = Path(__file__).resolve().parent.parent
USERS = [
    roster_user("2002", "Det. Baker", "data_user", "2345", "2026-01-01"),
    roster_user("3003", "Adm. Cole", "administrator", "3456", "2026-01-01"),
]


@pytest.mark.policy("POL-06")
@pytest.mark.policy("POL-17")
@pytest.mark.policy("POL-09")
def test_the_qa_set_holds_only_confirmed_and_corrected_hits_for_administrators(
    hq_db, tmp_path, monkeypatch, capsys
):
    from alprd.cli import main
    from alprd.hq.access import AccessRefused
    from alprd.hq.qa import export

    store = open_store(hq_db)
    store.save_roster(1, USERS)
    verdict(store, "CAR-1", "rear", "m-2", "8XYZ442", "verified_stopped")  # label BXYZ442
    verdict(store, "CAR-1", "rear", "m-2", "8XYZ442", "misread", typed="8XYZ447")
    verdict(store, "CAR-2", "front", "m-1", "BXYZ442", "misread")  # nothing typed: no label
    verdict(store, "CAR-2", "front", "m-1", "BXYZ442", "unable_to_locate")  # not a verdict
    with pytest.raises(AccessRefused, match="only an ALPR system administrator"):
        export(store, "2002", "2345", "administrative", tmp_path / "no")
    with pytest.raises(AccessRefused, match="six authorised purposes"):
        export(store, "3003", "3456", "", tmp_path / "no")
    assert not (tmp_path / "no").exists()
    store.close()
    out = tmp_path / "qa"
    monkeypatch.setattr("sys.stdin", io.StringIO("3456\n"))
    args = ["hq", "qa-export", "--db", str(hq_db), "--user", "3003", "--pin-stdin"]
    assert main([*args, "--purpose", "administrative", "--out", str(out)]) == 0
    assert "2 labelled crop(s)" in capsys.readouterr().out
    items = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted((i["label"], i["plates"][0]["text"], i["read_text"]) for i in items) == [
        ("confirmed", "BXYZ442", "8XYZ442"),
        ("corrected", "8XYZ447", "8XYZ442"),
    ]
    for i in items:
        assert (out / i["image"]).stat().st_size > 0 and i["plates"][0]["state"] == "CA"
        assert i["source"]["unit_id"] == "CAR-1" and i["source"]["model"] == "m-2"
        # the plate inside the car's crop: cut again with the readers' margin, it is the crop
        # (not the crop with a second margin around it)
        x1, y1, x2, y2 = i["plates"][0]["bbox"]
        assert 0 < x1 < x2 < i["width"] and 0 < y1 < y2 < i["height"]
        assert abs((x2 - x1) * (1 + 2 * MARGIN_X) - i["width"]) <= 1
        assert abs((y2 - y1) * (1 + 2 * MARGIN_Y) - i["height"]) <= 1
    store = open_store(hq_db)
    log = [
        (e["username"], e["action"], e["result_count"], e["refused"]) for e in store.access_log()
    ]
    assert log == [
        ("2002", "qa_export", None, "only an ALPR system administrator may export the QA crop set"),
        ("3003", "qa_export", None, "an export needs one of the six authorised purposes"),
        ("3003", "qa_export", 2, None),
    ]
    # two years on, the reads are logically deleted (POL-09): the set loses them too
    later = retention.logical_due(datetime.now(timezone.utc)) + timedelta(days=1)
    store.apply_retention(later)
    assert export(store, "3003", "3456", "administrative", tmp_path / "later", later) == 0
    store.close()


def test_train_reads_the_exported_set(hq_db, tmp_path):
    """The export is in the format train/agency_crops.py prepares for fine-tuning."""
    from alprd.hq.qa import export

    store = open_store(hq_db)
    store.save_roster(1, USERS)
    for typed in ("8XYZ447", "7ABC123", "4DEF567", "6GHJ890"):
        verdict(store, "CAR-1", "rear", "m-2", "8XYZ442", "misread", typed=typed)
    assert export(store, "3003", "3456", "administrative", tmp_path / "qa") == 4
    store.close()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.agency_crops",
            str(tmp_path / "qa"),
            "--out",
            str(tmp_path / "agency"),
            "--holdout",
            "0.5",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    held = (tmp_path / "agency" / "holdout" / "manifest.jsonl").read_text().splitlines()
    train = (tmp_path / "agency" / "train.csv").read_text().splitlines()
    assert len(held) == 2 and len(train) > 1
