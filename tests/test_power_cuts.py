"""SIGKILL at random moments during ingest and uplink: every committed read reaches HQ once.

CI runs ALPRD_KILLS (default 20) kills; `ALPRD_KILLS=100 ./run test tests/test_power_cuts.py`
runs the issue's hundred.
"""
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from alprd import demo
from alprd.demo.broker import free_port
from alprd.hq import HqEndpoint
from tests.helpers import key_file


def config(tmp_path, broker_url, cameras=True) -> str:
    cam = (f'[[capture.cameras]]\nid = "rear"\nsource = "{demo.CLIP}"\nfps = 60\nloop = true\n'
           if cameras else "")
    p = tmp_path / ("run.toml" if cameras else "drain.toml")
    p.write_text(f'[vehicle]\nunit_id = "KILL-1"\n{cam}[track]\npass_gap_s = 0.3\n'
                 f'[store]\npath = "{tmp_path / "car.db"}"\nkey_file = "{key_file(tmp_path)}"\n'
                 f'[uplink]\nbroker = "{broker_url}"\nbatch = 5\n'
                 f'[ui]\nlisten = "127.0.0.1:{free_port()}"\n')
    return str(p)


def test_sigkill_during_ingest_and_uplink_loses_and_duplicates_nothing(broker, tmp_path):
    kills = int(os.environ.get("ALPRD_KILLS", "20"))
    rng = random.Random(11)
    hq = HqEndpoint(broker.url, tmp_path / "hq.db", client_id="hq-kill")
    hq.start()
    cfg = config(tmp_path, broker.url)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        for _ in range(kills):
            p = subprocess.Popen([sys.executable, "-m", "alprd", "run", "-c", cfg],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            time.sleep(rng.uniform(1.0, 3.5))
            p.send_signal(signal.SIGKILL)
            p.wait(10)
        car = sqlite3.connect(tmp_path / "car.db")
        assert car.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        committed = {r[0] for r in car.execute("SELECT id FROM reads")}
        car.close()
        assert committed, "no read was committed in any run"
        drain = subprocess.run([sys.executable, "-m", "alprd", "run", "-c",
                                config(tmp_path, broker.url, cameras=False), "--exit-when-done",
                                "--drain-s", "60"], capture_output=True, text=True, timeout=120)
        assert drain.returncode == 0, drain.stderr[-2000:]
    finally:
        hq.stop()
    db = sqlite3.connect(tmp_path / "hq.db")
    at_hq = [r[0] for r in db.execute("SELECT id FROM records WHERE kind='read'")]
    assert len(at_hq) == len(set(at_hq))  # stored once each
    assert committed <= set(at_hq), f"{len(committed - set(at_hq))} committed reads lost"
    car = sqlite3.connect(tmp_path / "car.db")
    assert car.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
