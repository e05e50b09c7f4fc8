"""#37 item 1: field accuracy at HQ from the officers' verdicts (verified or misread, with the
characters typed), per car, camera, model version and week; a camera misreading far more often
than the fleet is flagged, in `alprd hq quality` and in the fleet's flags. Both back ends."""

from __future__ import annotations

import json
import uuid

from alprd.hq import open_store
from alprd.protocol import hit_body, read_body
from alprd.types import Hit, HotlistEntry
from tests.helpers import make_read

ENTRY = HotlistEntry("BXYZ442", "CA", "stolen_vehicle", "test", 1, "V1")


def verdict(store, unit: str, camera: str, model: str, text: str, action: str, typed=None):
    """A read, its hit and the officer's closing disposition, as a car uplinks them."""
    read = make_read(text, unit=unit, camera_id=camera)
    hit = Hit(str(uuid.uuid4()), read.id, ENTRY, "look-alike", read.utc, (0,), model=model)
    d = {
        "id": str(uuid.uuid4()),
        "hit_id": hit.id,
        "read_id": read.id,
        "unit_id": unit,
        "utc": read.utc,
        "username": "1001",
        "role": "patrol_officer",
        "action": action,
        "note": "",
        **({"corrected_text": typed} if typed else {}),
    }
    store.add(
        unit,
        [
            {"id": read.id, "kind": "read", "body": read_body(read)},
            {"id": hit.id, "kind": "hit", "body": hit_body(hit, unit)},
            {"id": d["id"], "kind": "disposition", "body": d},
        ],
    )


def test_field_accuracy_per_camera_model_and_week_flags_the_camera_that_misreads(hq_db, capsys):
    from alprd.cli import main
    from alprd.hq.fleet import fleet
    from alprd.hq.quality import quality, week

    store = open_store(hq_db)
    for _ in range(5):
        verdict(store, "CAR-1", "rear", "m-2", "BXYZ442", "verified_stopped")
    verdict(store, "CAR-1", "rear", "m-2", "8XYZ442", "misread")  # no characters typed
    for _ in range(2):
        verdict(store, "CAR-2", "front", "m-1", "BXYZ442", "verified_not_stopped")
    for _ in range(3):  # a dirty window: B read as 8, and one plate read a character short
        verdict(store, "CAR-2", "front", "m-1", "8XYZ442", "misread", typed="7XYZ442")
    verdict(store, "CAR-2", "front", "m-1", "BXYZ44", "misread", typed="BXYZ447")
    q = quality(store)
    assert (q["verdicts"], q["confirmed"], q["misread"]) == (12, 7, 5)
    assert q["by_camera"]["CAR-1/rear"] == {"confirmed": 5, "misread": 1, "misread_rate": 0.167}
    assert q["by_camera"]["CAR-2/front"] == {"confirmed": 2, "misread": 4, "misread_rate": 0.667}
    assert q["by_model"]["m-1"]["misread"] == 4 and q["by_model"]["m-2"]["misread"] == 1
    (this_week,) = q["by_week"]
    assert this_week == week(make_read().utc)
    assert [tuple(w) for w in q["characters_wrong"]] == [
        ("8>7", 3),
        ("BXYZ44>BXYZ447 (length)", 1),
    ]
    assert [f["flag"] for f in q["flagged"]] == [
        "car CAR-2: 67 % misread",
        "camera CAR-2/front: 67 % misread",
    ]
    rows = {r["unit_id"]: r for r in fleet(store)}
    assert "camera CAR-2/front: 67 % misread" in rows["CAR-2"]["flags"]
    assert not any("misread" in f for f in rows["CAR-1"]["flags"])
    store.close()
    assert main(["hq", "quality", "--db", str(hq_db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["misread"] == 5
    assert main(["hq", "quality", "--db", str(hq_db)]) == 0
    text = capsys.readouterr().out
    assert (
        "FLAG camera CAR-2/front: 67 % misread of 6 verdicts (the rest of the fleet 17 %)" in text
    )
    assert "8>7 x3" in text


def test_a_hit_names_the_models_that_read_it(tmp_path):
    """The car puts its models' version on each hit (hit.v1 `model`, schema-checked)."""
    from alprd.protocol import check_record
    from alprd.recognize import model_version
    from tests.test_daemon import a_pass, make_daemon

    d = make_daemon(tmp_path)
    from alprd.hotlist import Hotlist

    d.pipeline.hotlist = Hotlist([HotlistEntry("7ABC123", None, "bolo", "test")])
    d.pipeline.finish(a_pass("7ABC123"))
    (hit,) = [i.body for i in d.store.pending(100) if i.kind == "hit"]
    assert hit["model"] == model_version() != "unknown"
    check_record("hit", hit)
    d.store.close()
