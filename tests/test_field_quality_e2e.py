"""#37's loop on real parts, as far as it is built: two cars uplink over a real broker to HQ on
PostgreSQL; officers verify or mark misread (one typing the plate) on each car; HQ's field
accuracy counts them per car and camera and flags the car that misreads; the QA export holds
only the confirmed and corrected hits and is in the access log. (Model bundles, #37 item 5,
are not built yet.)"""

from __future__ import annotations

import os
import uuid

from alprd.config import load
from alprd.daemon import Daemon
from alprd.hotlist import Hotlist
from alprd.hq import HqEndpoint
from alprd.protocol import roster_user
from alprd.roster import Session
from alprd.types import HotlistEntry
from tests.helpers import key_file, wait_for
from tests.test_daemon import a_pass

OFFICER = Session("tok", "csrf", "1001", "Ofc. Able", "patrol_officer", 0.0, 0.0)
WANTED = [HotlistEntry(f"7ABC{i:03d}", None, "stolen_vehicle", "test") for i in range(12)]


def car(tmp_path, unit: str, broker_url: str) -> Daemon:
    cfg = load(
        None,
        environ={},
        defaults={
            "vehicle": {"unit_id": unit},
            "store": {"path": str(tmp_path / unit / "car.db"), "key_file": str(key_file(tmp_path))},
            "uplink": {"broker": broker_url, "retry_s": 1},
            "ui": {"repeat_suppress_min": 0},
        },
    )
    d = Daemon(cfg, ui=False)
    d.pipeline.hotlist = Hotlist(WANTED)
    d.uplink.start()
    return d


def test_two_cars_verdicts_reach_hq_as_field_accuracy_and_a_qa_set(
    broker, pg_server, tmp_path, monkeypatch
):
    from alprd.hq.qa import export
    from alprd.hq.quality import quality

    monkeypatch.chdir(tmp_path)  # HQ's index key and body keys: this test's own
    db = pg_server.create_database(f"hq_e2e_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    hq = HqEndpoint(broker.url, db, client_id="hq-quality")
    hq.start()
    cars = [car(tmp_path, "CAR-A", broker.url), car(tmp_path, "CAR-B", broker.url)]
    try:
        hq.store.save_roster(1, [roster_user("3003", "Adm. Cole", "administrator", "3456", "x")])
        for d, misreads in zip(cars, (1, 4)):
            for i in range(6):  # six hits on each car; the officers' verdicts
                d.pipeline.finish(a_pass(f"7ABC{i:03d}", 100.0 + 10 * i))
            hits = [a.hit_id for a in d.alerts.current()]
            assert len(hits) == 6
            for n, hit_id in enumerate(hits):
                if n < misreads:
                    typed = "7ABC999" if n == 0 else None
                    d.alerts.dispose(hit_id, "misread", OFFICER, corrected_text=typed)
                else:
                    for step in ("characters", "state", "want"):
                        d.alerts.step(hit_id, step, OFFICER)
                    d.alerts.dispose(hit_id, "verified_not_stopped", OFFICER)
            d.uplink.wake()
        # a verified hit: acknowledged, three steps, the verdict; a misread: the verdict alone
        assert wait_for(lambda: len(hq.store.bodies("disposition")) == (1 + 25) + (4 + 10), 30), (
            "the dispositions did not all reach HQ"
        )
        q = quality(hq.store)
        assert (q["verdicts"], q["misread"]) == (12, 5)
        assert q["by_unit_id"]["CAR-B"]["misread_rate"] == 0.667
        assert [f["flag"] for f in q["flagged"]] == [
            "car CAR-B: 67 % misread",
            "camera CAR-B/rear: 67 % misread",
        ]
        assert sorted(dict(q["characters_wrong"])) == ["0>9"]  # 7ABC000 read, 7ABC999 typed
        n = export(hq.store, "3003", "3456", "administrative", tmp_path / "qa")
        assert n == 7 + 2  # the 7 verified, and the 2 misreads whose plate was typed
        (logged,) = [e for e in hq.store.access_log() if e["action"] == "qa_export"]
        assert logged["result_count"] == 9 and logged["username"] == "3003"
    finally:
        for d in cars:
            d.uplink.stop()
            d.store.close()
        hq.stop()
