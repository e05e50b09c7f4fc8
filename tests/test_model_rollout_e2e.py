"""#37 item 5 on real parts: HQ on PostgreSQL and two cars on a real broker (the canary reading
the demo clip all along). A signed bundle reaches the canary alone; the canary's officers'
verdicts on its hits let it be promoted to the other car; a tampered bundle and one whose
models will not load are refused there and reported; rollback returns each car to the models
it had before; and the canary's frame counter keeps rising through every switch."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from datetime import datetime, timedelta, timezone

from alprd import demo, recognize
from alprd.config import load
from alprd.daemon import Daemon
from alprd.hotlist import Hotlist
from alprd.hq import HqEndpoint, signing_key
from alprd.hq.rollout import Rollout
from alprd.recognize import model_version
from alprd.roster import Session
from alprd.types import HotlistEntry
from tests.helpers import key_file, wait_for
from tests.test_daemon import a_pass

OFFICER = Session("tok", "csrf", "1001", "Ofc. Able", "patrol_officer", 0.0, 0.0)


def models_folder(path, broken: bool = False):
    shutil.copytree(recognize.MODEL_DIR, path)  # the package's models, under the bundle's names
    if broken:
        (path / "ocr.tflite").write_bytes(b"no model here" * 64)
    return path


def start_car(tmp_path, unit, broker_url, camera: bool) -> tuple[Daemon, threading.Thread]:
    cfg = load(
        None,
        environ={},
        defaults={
            "vehicle": {"unit_id": unit},
            "store": {"path": str(tmp_path / unit / "car.db"), "key_file": str(key_file(tmp_path))},
            "uplink": {"broker": broker_url, "retry_s": 1},
            "hotlist": {"public_key": str(tmp_path / "hq.key.pub")},
            "capture": {
                "cameras": [{"id": "rear", "source": str(demo.CLIP), "loop": True, "fps": 10}]
                if camera
                else []
            },
            "ui": {"listen": "127.0.0.1:0", "repeat_suppress_min": 0},
        },
    )
    d = Daemon(cfg, ui=False)
    t = threading.Thread(target=d.run, daemon=True)
    t.start()
    return d, t


def reports(hq, unit):
    return [
        r for r in hq.store.bodies("report") if r["type"] == "model_update" and r["unit_id"] == unit
    ]


def test_a_bundle_goes_to_the_canary_then_the_fleet_bad_ones_are_refused_and_rollback_works(
    broker, pg_server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    key = signing_key(tmp_path / "hq.key")
    db = pg_server.create_database(f"hq_models_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    hq = HqEndpoint(broker.url, db, client_id="hq-models")
    hq.start()
    rollout = Rollout(tmp_path / "bundles")
    rollout.add(models_folder(tmp_path / "m2"), "v-2", key)
    rollout.add(models_folder(tmp_path / "mbad", broken=True), "v-bad", key)
    (a, ta), (b, tb) = (
        start_car(tmp_path, "CAR-A", broker.url, camera=True),
        start_car(tmp_path, "CAR-B", broker.url, camera=False),
    )
    package = model_version()
    frames: list[int] = []
    sampling = threading.Event()

    def sample():  # the canary's frame counter, ten times a second, through every switch
        while not sampling.wait(0.1):
            frames.append(a.pipeline.frames)

    sampler = threading.Thread(target=sample)
    try:
        assert wait_for(lambda: a.uplink.connected.is_set() and b.uplink.connected.is_set(), 20)
        assert wait_for(lambda: a.pipeline.frames > 5, 30), "the canary reads no frames"
        sampler.start()
        now = datetime.now(timezone.utc)
        rollout.canary(hq, "v-2", ["CAR-A"], now)
        assert wait_for(lambda: a.models.version == "v-2", 30), "the canary never switched"
        assert wait_for(lambda: reports(hq, "CAR-A"), 20), "no model_update report at HQ"
        assert reports(hq, "CAR-A")[0]["result"] == "switched"
        assert b.models.version == package  # the rest of the fleet is untouched
        # the canary's officers verify hits read with v-2: five verdicts, none misread
        a.pipeline.hotlist = Hotlist(
            [HotlistEntry(f"7ABC{i:03d}", None, "bolo", "t") for i in range(5)]
        )
        for i in range(5):
            a.pipeline.finish(a_pass(f"7ABC{i:03d}", 1000.0 + 10 * i))
        for alert in a.alerts.current():
            assert alert.hit.model == "v-2"
            for step in ("characters", "state", "want"):
                a.alerts.step(alert.hit_id, step, OFFICER)
            a.alerts.dispose(alert.hit_id, "verified_not_stopped", OFFICER)
        a.uplink.wake()
        assert wait_for(
            lambda: (
                sum(d["action"] == "verified_not_stopped" for d in hq.store.bodies("disposition"))
                == 5
            ),
            20,
        )
        fleet = ["CAR-A", "CAR-B"]
        later = now + timedelta(hours=25)
        assert rollout.promote(hq, hq.store, "v-2", fleet, later, timedelta(hours=24)) == ["CAR-B"]
        assert wait_for(lambda: b.models.version == "v-2", 30), "promotion did not reach CAR-B"
        from alprd.hq.fleet import fleet

        assert wait_for(  # HQ's fleet view says which models each car reads with
            lambda: (
                {r["unit_id"]: r["models"] for r in fleet(hq.store)}
                == {"CAR-A": "v-2", "CAR-B": "v-2"}
            ),
            20,
        )
        # a tampered bundle, and one whose models do not load: refused, v-2 stays, HQ is told
        wire = (tmp_path / "bundles" / "v-2.bundle").read_bytes()
        hq.publish("CAR-B/models", wire[:-50] + bytes([wire[-50] ^ 1]) + wire[-49:], retain=True)
        rollout.canary(hq, "v-bad", ["CAR-B"], later)
        assert wait_for(
            lambda: [r["why"] for r in reports(hq, "CAR-B") if r["result"] == "refused"], 30
        )
        assert wait_for(
            lambda: len([r for r in reports(hq, "CAR-B") if r["result"] == "refused"]) == 2, 20
        )
        refused = [r["why"] for r in reports(hq, "CAR-B") if r["result"] == "refused"]
        assert any("digest" in w for w in refused) and any("will not load" in w for w in refused)
        assert b.models.version == "v-2"
        # rollback: each car to what it had before
        assert rollout.rollback(hq) == {"CAR-A": "package", "CAR-B": "v-2"}
        assert wait_for(lambda: a.models.version == package, 30), "CAR-A did not roll back"
        assert b.models.version == "v-2"
        assert wait_for(lambda: any(r["result"] == "rolled_back" for r in reports(hq, "CAR-A")), 20)
        assert wait_for(lambda: len(frames) > 25, 10)  # a few seconds after the last switch
    finally:
        sampling.set()
        if sampler.is_alive():
            sampler.join(5)
        for d, t in ((a, ta), (b, tb)):
            d.stop_event.set()
            t.join(15)
        hq.stop()
    # reads never stopped: the counter rose through every switch (no second without a frame)
    assert len(frames) > 25 and frames[-1] > frames[0]
    stalls = [i for i in range(len(frames) - 10) if frames[i + 10] == frames[i]]
    assert not stalls, "the canary's frame counter stood still for a second"
