"""The systemd units, and the daemon's READY/WATCHDOG on a real NOTIFY_SOCKET."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alprd.supervise import Notifier, Watchdog
from tests.helpers import key_file

UNITS = Path(__file__).resolve().parent.parent / "systemd"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def local_units(tmp_path) -> Path:
    """The units with ExecStart pointing at this checkout's alprd (verify needs it to exist)."""
    alprd = Path(sys.executable).parent / "alprd"
    out = tmp_path / "units"
    out.mkdir()
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/opt/alprd/venv/bin/alprd", str(alprd))
        (out / unit.name).write_text(text)
    return out


@needs_analyze
def test_units_verify(tmp_path):
    units = local_units(tmp_path)
    res = subprocess.run(
        [ANALYZE, "verify", *map(str, sorted(units.iterdir()))], capture_output=True, text=True
    )
    problems = [
        line
        for line in res.stderr.splitlines()
        if "alprd" in line and "Failed to resolve user" not in line
    ]  # user made at install
    assert res.returncode == 0 or not problems, res.stderr


@needs_analyze
def test_service_exposure_is_ok_or_better(tmp_path):
    units = local_units(tmp_path)
    res = subprocess.run(
        [ANALYZE, "security", "--offline=yes", str(units / "alprd.service")],
        capture_output=True,
        text=True,
    )
    m = re.search(r"Overall exposure level for alprd.service: ([0-9.]+) (\w+)", res.stdout)
    assert m, res.stdout[-500:] + res.stderr[-500:]
    assert float(m.group(1)) <= 4.9 and m.group(2) in ("OK", "SAFE"), m.group(0)


def test_unit_has_the_required_settings():
    text = (UNITS / "alprd.service").read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "User=alprd",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
        "DevicePolicy=closed",
        "LoadCredential=data.key",
        "ExecStartPre=/opt/alprd/venv/bin/alprd config check",
    ):
        assert line in text, line


class NotifySocket:
    def __init__(self, path: Path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []

    def drain(self, seconds: float):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.messages.append((time.monotonic(), self.sock.recv(4096).decode()))
            except socket.timeout:
                pass

    def wait_for(self, text: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in m for _, m in self.messages):
                return True
            self.drain(0.2)
        return False

    def close(self):
        self.sock.close()


def test_notifier_is_a_no_op_outside_systemd():
    assert Notifier({}).send("READY=1") is False


def test_watchdog_feeds_only_while_every_stage_progresses(tmp_path):
    ns = NotifySocket(tmp_path / "n.sock")
    beats = {"capture": 100.0, "gps": 100.0}
    wd = Watchdog(
        Notifier({"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "2000000"}),
        {k: (lambda k=k: beats[k]) for k in beats},
        stale_after_s=5,
    )
    wd.tick(lambda: "ok", now=101.0)
    beats["gps"] = 90.0  # GPS stalled
    wd.tick(lambda: "ok", now=102.5)
    beats["gps"] = 103.0  # recovered
    wd.tick(lambda: "ok", now=104.0)
    ns.drain(0.3)
    got = [m for _, m in ns.messages]
    assert got[0].startswith("WATCHDOG=1") and "WATCHDOG" not in got[1]
    assert "stalled: gps" in got[1] and got[2].startswith("WATCHDOG=1")
    ns.close()


def test_daemon_sends_ready_then_stops_and_resumes_the_watchdog_with_its_camera(tmp_path):
    from alprd.demo.broker import free_port
    from tests.test_camera_recovery import MjpegCamera

    port = free_port()
    cam = MjpegCamera(port)
    cfg = tmp_path / "a.toml"
    cfg.write_text(
        f'[vehicle]\nunit_id = "WD-1"\n[[capture.cameras]]\nid = "front"\n'
        f'source = "http://127.0.0.1:{port}/s.mjpg"\n[capture]\nreconnect_max_s = 1\n'
        f'[store]\npath = "{tmp_path / "car.db"}"\nkey_file = "{key_file(tmp_path)}"\n'
        f'[ui]\nlisten = "127.0.0.1:0"\n[service]\nstall_s = 2\n'
    )
    ns = NotifySocket(tmp_path / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=ns.path, WATCHDOG_USEC="1000000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "alprd", "run", "-c", str(cfg)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert ns.wait_for("READY=1", 30), proc.stderr.read() if proc.poll() else "no READY"
        assert ns.wait_for("WATCHDOG=1", 10)
        ready_at = next(t for t, m in ns.messages if "READY=1" in m)
        assert all(t >= ready_at for t, m in ns.messages if "WATCHDOG=1" in m)
        cam.stop()  # the camera dies: capture makes no progress
        assert ns.wait_for("stalled: capture", 15)
        stalled_at = next(t for t, m in ns.messages if "stalled: capture" in m)
        ns.drain(2.0)
        assert not any("WATCHDOG=1" in m for t, m in ns.messages if t > stalled_at + 0.1)
        cam = MjpegCamera(port)  # it comes back
        n_before = len(ns.messages)
        ns.drain(0.1)
        end = time.monotonic() + 20
        while time.monotonic() < end and not any(
            "WATCHDOG=1" in m for _, m in ns.messages[n_before:]
        ):
            ns.drain(0.3)
        assert any("WATCHDOG=1" in m for _, m in ns.messages[n_before:])
        assert any("reads/min, outbox" in m for _, m in ns.messages)
    finally:
        proc.terminate()
        proc.wait(10)
        cam.stop()
        ns.close()
    assert proc.returncode == 0


# -- #23 item 16: outbound traffic limited to HQ's broker and DNS; camera devices by class ----
def test_the_service_may_reach_only_what_it_needs():
    text = (UNITS / "alprd.service").read_text()
    assert "IPAddressDeny=any" in text and "IPAddressAllow=localhost" in text
    assert not re.search(r"^IPAddressDeny=\s*$", text, re.M)
    # device nodes by class: libcamera (picamera2) opens /dev/dma_heap/*, /dev/media*,
    # /dev/video* and /dev/v4l-subdev*; a directory path allows nothing
    assert "DeviceAllow=/dev/dma_heap " not in text
    for line in (
        "DeviceAllow=char-dma_heap rw",
        "DeviceAllow=char-media rw",
        "DeviceAllow=char-video4linux rw",
    ):
        assert line in text, line


def test_config_firewall_writes_the_drop_in_for_hq_and_dns(tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# generated\nnameserver 10.20.0.53\nnameserver fd00::53\nsearch pd\n")
    cfg = tmp_path / "alprd.toml"
    cfg.write_text('[uplink]\nbroker = "mqtts://localhost:8883"\n')
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "alprd",
            "config",
            "firewall",
            "-c",
            str(cfg),
            "--resolv-conf",
            str(resolv),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    allow = [line for line in res.stdout.splitlines() if line.startswith("IPAddressAllow=")]
    addrs = " ".join(allow).replace("IPAddressAllow=", " ").split()
    assert "127.0.0.1" in addrs and "10.20.0.53" in addrs and "fd00::53" in addrs, res.stdout
    assert res.stdout.startswith("# alprd.service.d/network.conf")
    if ANALYZE:  # the unit with the drop-in still verifies
        units = local_units(tmp_path)
        (units / "alprd.service.d").mkdir()
        (units / "alprd.service.d" / "network.conf").write_text(res.stdout)
        v = subprocess.run(
            [ANALYZE, "verify", str(units / "alprd.service")], capture_output=True, text=True
        )
        problems = [
            line
            for line in v.stderr.splitlines()
            if "alprd" in line and "Failed to resolve user" not in line
        ]
        assert v.returncode == 0 or not problems, v.stderr


def test_config_firewall_refuses_an_unresolvable_broker(tmp_path):
    cfg = tmp_path / "alprd.toml"
    cfg.write_text('[uplink]\nbroker = "mqtts://hq.invalid:8883"\n')
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "alprd",
            "config",
            "firewall",
            "-c",
            str(cfg),
            "--resolv-conf",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
    )
    assert (
        res.returncode == 2
        and "hq.invalid" in res.stderr
        and len(res.stderr.strip().splitlines()) == 1
    ), res.stderr
