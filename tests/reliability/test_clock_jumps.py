"""The system clock jumps (no RTC at boot, then NTP or GPS sets it, then it jumps by hours):
intervals, the watchdog, acknowledgements and retention keep working.

The daemon runs under libfaketime (Debian's `faketime` package), which moves the wall clock
only (DONT_FAKE_MONOTONIC=1), so the jumps are real to the process: time.time(), datetime.now()
and file times all follow them. Plain MQTT on loopback: with mutual TLS a clock set to 2000
would, correctly, refuse every certificate until the clock is right.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from alprd import demo
from alprd.demo.broker import free_port
from alprd.gps.nmea import retimed
from alprd.hq import HqEndpoint, HqStore
from tests.helpers import LIBFAKETIME, key_file
from tests.test_systemd import NotifySocket

pytestmark = pytest.mark.reliability

FAKETIME = LIBFAKETIME
# boot with no RTC (the clock reads 2000), NTP sets it, +6 h, -4 h, +30 days, back to true
PHASES = ["@2000-01-01 00:00:00", "+0", "+6h", "-4h", "+30d", "+0"]


def track_of(tmp_path, day: date) -> Path:
    """The demo's GPS recording moved to now (by the test's own, true clock) and repeated for
    20 minutes: the GPS then tells the true time, as a real receiver does, whatever the
    faked system clock says; reads stamped from GPS time are as recent as the others, and
    the car's 1-day cap treats them alike."""
    path = tmp_path / "track.nmea"
    path.write_bytes(retimed(demo.TRACK.read_bytes(), datetime.now(timezone.utc), repeat=50))
    return path


def config(tmp_path, broker_url, day: date | None = None) -> Path:
    cameras = day is not None
    cam = (
        f'[[capture.cameras]]\nid = "rear"\nsource = "{demo.CLIP}"\nfps = 30\nloop = true\n'
        f'[gps]\nport = "{track_of(tmp_path, day)}"\nreplay_loop = true\n'
        if cameras
        else ""
    )
    p = tmp_path / ("run.toml" if cameras else "drain.toml")
    p.write_text(
        f'[vehicle]\nunit_id = "CLK-1"\n{cam}[track]\npass_gap_s = 0.3\n'
        f'[store]\npath = "{tmp_path / "car.db"}"\nkey_file = "{key_file(tmp_path)}"\n'
        f"local_cap_days = 1\n"
        f'[uplink]\nbroker = "{broker_url}"\nretry_s = 1\n'
        f'[ui]\nlisten = "127.0.0.1:{free_port()}"\n[service]\nstall_s = 3\n'
    )
    return p


@pytest.mark.skipif(
    FAKETIME is None,
    reason="libfaketime not installed (apt-get install faketime; ./run test installs it)",
)
def test_clock_jumps_keep_reads_acks_and_the_watchdog_going(broker, tmp_path):
    phase_s = float(os.environ.get("ALPRD_CLOCK_PHASE_S", "4"))
    hq = HqEndpoint(broker.url, tmp_path / "hq.db", client_id="hq-clock")
    hq.start()
    stamp = tmp_path / "faketime"
    stamp.write_text(PHASES[0] + "\n")
    ns = NotifySocket(tmp_path / "notify.sock")
    # the phases come from the file alone: a FAKETIME set around the whole run (./run
    # clock-ahead) would otherwise win over it
    env = {k: v for k, v in os.environ.items() if k != "FAKETIME"}
    env.update(
        LD_PRELOAD=FAKETIME,
        FAKETIME_TIMESTAMP_FILE=str(stamp),
        FAKETIME_NO_CACHE="1",
        DONT_FAKE_MONOTONIC="1",
        NOTIFY_SOCKET=ns.path,
        WATCHDOG_USEC="2000000",
    )
    true_start = datetime.now(timezone.utc)  # the test's own clock is not faked
    today = true_start.date()
    proc = subprocess.Popen(
        [sys.executable, "-m", "alprd", "run", "-c", str(config(tmp_path, broker.url, today))],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    per_phase = []
    try:
        assert ns.wait_for("READY=1", 60), proc.stderr.read() if proc.poll() else "no READY"
        for phase in PHASES:
            stamp.write_text(phase + "\n")
            start = len(ns.messages)
            ns.drain(phase_s)
            per_phase.append(sum("WATCHDOG=1" in m for _, m in ns.messages[start:]))
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err[-2000:]
        # whatever was still unacknowledged goes at the next start (true clock)
        drain = subprocess.run(
            [
                sys.executable,
                "-m",
                "alprd",
                "run",
                "-c",
                str(config(tmp_path, broker.url)),
                "--exit-when-done",
                "--drain-s",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert drain.returncode == 0, drain.stderr[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        ns.close()
        hq.stop()
    label = {ord("@"): "at_", ord("+"): "plus", ord("-"): "minus", ord(" "): "_"}
    print(
        "\n"
        + "\n".join(
            f"watchdog_pings_clock_{p.translate(label)}: {n} pings"
            for p, n in zip(PHASES, per_phase)
        )
    )
    # the watchdog was fed in every phase, whatever the wall clock said
    assert all(n >= 1 for n in per_phase), dict(zip(PHASES, per_phase))
    car = sqlite3.connect(tmp_path / "car.db")
    reads = car.execute("SELECT id, utc, time_source FROM reads").fetchall()
    assert car.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    assert car.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    car.close()
    hq_store = HqStore(tmp_path / "hq.db")  # bodies sealed at rest: opened with its ring
    at_hq = {b["id"]: b for b in hq_store.bodies("read")}
    hq_store.close()
    # no read lost to the jumps: every read captured is at HQ (a +30 d jump past the 1-day
    # local cap may purge reads on the car, but only ones HQ has acknowledged)
    sources = Counter(r[2] for r in reads)
    hq_sources = Counter(b["time_source"] for b in at_hq.values())
    print(
        f"reads_stored: {len(reads)} reads, by time source {dict(sources)}\n"
        f"reads_at_hq: {len(at_hq)} reads, by time source {dict(hq_sources)}"
    )
    assert {r[0] for r in reads} <= set(at_hq) and len(at_hq) >= len(PHASES)
    # a read made while the clock said 2000 is stamped from GPS time, never as 2000; the
    # daemon was READY, and capturing, through the whole first phase (the clock at 2000)
    assert not any(
        b["utc"].startswith("2000") and b["time_source"] != "system-unset" for b in at_hq.values()
    )
    # #23 item 9: a clock the GPS contradicts (+6 h, -4 h, +30 d) is not used: every read
    # stamped at all is stamped with the true time, from the system clock or from the GPS
    true_end = datetime.now(timezone.utc)
    wrong = {
        b["utc"]: b["time_source"]
        for b in at_hq.values()
        if b["time_source"] != "system-unset"
        and not (
            true_start - timedelta(minutes=2)
            <= datetime.fromisoformat(b["utc"].replace("Z", "+00:00"))
            <= true_end + timedelta(minutes=2)
        )
    }
    assert not wrong, (hq_sources, wrong)
    assert hq_sources["gps"] >= 1, hq_sources
