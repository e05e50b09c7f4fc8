from datetime import datetime, timezone
from pathlib import Path

import pytest

from alprd.hq.importers import ImportRefused, parse_clew, parse_ncic

SAMPLES = Path(__file__).resolve().parent.parent / "docs" / "hotlist-samples"


def test_ncic_sample_imports_good_rows_and_reports_bad_ones():
    r = parse_ncic(SAMPLES / "ncic_extract.txt")
    assert [e.plate for e in r.entries] == ["8XYZ442", "4KTR819", "3JHF907"]
    assert r.entries[0].list_type == "stolen_vehicle" and r.entries[0].case_number == "V123456789"
    assert r.entries[1].list_type == "stolen_plate"
    assert r.entries[2].list_type == "wanted_person" and r.entries[2].expires > 0
    assert len(r.errors) == 3
    assert r.errors[0].startswith("line 8: unknown message key")
    assert "bad plate" in r.errors[1] and "bad DTE" in r.errors[2]


def test_clew_sample_imports_good_rows_and_reports_bad_ones():
    r = parse_clew(SAMPLES / "clew.csv")
    assert [e.plate for e in r.entries] == ["8XYZ442", "6MWB225", "3JHF907", "ABC"]
    assert r.entries[1].list_type == "amber" and r.entries[1].reason.startswith("Child")
    assert r.entries[1].priority == 1 and r.entries[0].priority == 2
    assert [e.split(":")[0] for e in r.errors] == ["line 6", "line 7", "line 8"]


def test_file_without_the_header_is_refused_whole(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("PLATE,STATE\n8XYZ442,CA\n")
    with pytest.raises(ImportRefused, match="header lacks"):
        parse_clew(p)


def test_empty_or_unusable_file_is_refused(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("")
    with pytest.raises(ImportRefused, match="empty"):
        parse_ncic(p)
    p.write_text("garbage\nmore garbage\n")
    with pytest.raises(ImportRefused, match="no usable row"):
        parse_ncic(p)


def test_hq_command_publishes_a_signed_retained_hotlist(broker, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    import paho.mqtt.client as mqtt

    from alprd.hotlist import Hotlist
    from alprd.hotlist.sync import HotlistSync
    from alprd.protocol import load_public_key

    key = tmp_path / "hq.key"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alprd",
            "hq",
            "--broker",
            broker.url,
            "--db",
            str(tmp_path / "hq.db"),
            "--hotlist",
            str(SAMPLES / "clew.csv"),
            "--hotlist-format",
            "clew",
            "--signing-key",
            str(key),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        got = threading.Event()
        box = []
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="late-car")
        sub.on_message = lambda c, u, m: (box.append(m.payload), got.set())
        # a car that connects after the publication still gets the list (retained)
        said: list[str] = []  # HQ's log, read aside: a missing line fails, never hangs
        threading.Thread(target=lambda: said.extend(proc.stderr), daemon=True).start()
        deadline = time.monotonic() + 30
        while not any("published hotlist version" in x for x in said):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(said)
            time.sleep(0.05)
        sub.connect("127.0.0.1", broker.port)
        sub.subscribe("alprd/v1/hotlist", qos=1)
        sub.loop_start()
        assert got.wait(20), proc.stderr.read() if proc.poll() is not None else "no hotlist"
        sub.loop_stop()
        assert oct(os.stat(key).st_mode & 0o777) == "0o600"
        sync = HotlistSync(Hotlist(), load_public_key(tmp_path / "hq.key.pub"), tmp_path)
        applied = sync.apply(box[0])
        assert applied.kind == "snapshot" and applied.added == 4
        # the AMBER record is valid 11/27-11/30/2026 (the sample's own dates): match it
        # inside that window, never against today's date
        during = datetime(2026, 11, 28, tzinfo=timezone.utc).timestamp()
        assert sync.hotlist.matcher.match("6MWB225", now=during)[0].entry.list_type == "amber"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err[-3000:]
    assert "skipped line 6" in "".join(said) + err  # malformed rows reported
