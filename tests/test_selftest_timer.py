"""#23 item 14: `alprd selftest` (the technician's command and the systemd timer) asks the
running daemon, which holds the cameras and the GPS, rather than opening them a second time;
the ticket it prepares is the service user's alone (0600). With no daemon, it opens them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from alprd import demo
from alprd.demo.broker import free_port
from tests.helpers import key_file, wait_for
from tests.test_camera_recovery import MjpegCamera


def selftest(cfg: Path, *extra: str) -> tuple[int, dict]:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "alprd",
            "selftest",
            "-c",
            str(cfg),
            "--json",
            "--ticket-on-failure",
            "--min-free-mb",
            "1",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.stdout, res.stderr[-2000:]
    return res.returncode, json.loads(res.stdout)


@pytest.mark.policy("POL-19")
def test_the_timer_asks_the_running_daemon_and_opens_no_device(tmp_path):
    port = free_port()
    cam = MjpegCamera(port)
    state = tmp_path / "state"
    cfg = tmp_path / "alprd.toml"
    cfg.write_text(
        f'[vehicle]\nunit_id = "TMR-1"\n[[capture.cameras]]\nid = "rear"\n'
        f'source = "http://127.0.0.1:{port}/s.mjpg"\n'
        f'[gps]\nport = "{demo.TRACK}"\nreplay_loop = true\nreplay_retime = true\n'
        f'[store]\npath = "{state / "car.db"}"\nkey_file = "{key_file(tmp_path)}"\n'
        f'[ui]\nlisten = "127.0.0.1:{free_port()}"\n'
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "alprd", "run", "-c", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: (state / "control.sock").exists() and cam.connections == 1, 60), (
            daemon.stderr.read() if daemon.poll() is not None else "no socket"
        )
        code, out = selftest(cfg)
        assert out["via"] == "daemon", out
        results = {r["component"]: r["status"] for r in out["results"]}
        assert results["camera rear"] == "ok" and results["gps"] == "ok", out["results"]
        assert cam.connections == 1  # the camera was not opened a second time
        cam.stop()  # the camera dies: the daemon's check fails it and prepares the ticket
        assert wait_for(lambda: selftest(cfg)[0] == 1, 30)
        code, out = selftest(cfg)
        assert code == 1 and out["via"] == "daemon" and out["ticket"], out
        ticket = Path(out["ticket"]["print_view"])
        assert ticket.exists() and stat.S_IMODE(ticket.stat().st_mode) == 0o600
        assert stat.S_IMODE(os.stat(state / "control.sock").st_mode) == 0o600
    finally:
        daemon.terminate()
        daemon.wait(20)
        cam.stop()
    assert not (state / "control.sock").exists()  # removed at a clean stop
    code, out = selftest(cfg)  # no daemon: the command opens the devices itself
    assert out["via"] == "direct" and code == 1
