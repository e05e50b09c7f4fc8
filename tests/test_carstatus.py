"""#36 finding 1: the car's state as the officer's strip shows it (alprd.carstatus), from the
health report's figures, on an injected monotonic clock; the page's status events and the
log lines that go with them (alprd.supervise.PageStatus); HQ's copy (fleet_figures)."""

from __future__ import annotations

import logging

from alprd import carstatus
from alprd.carstatus import FAIL, OK, WARN, CarStatus
from alprd.supervise import PageStatus
from alprd.ui import EventBus


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def healthy() -> dict:
    return {
        "reads": 0,
        "outbox": 0,
        "cameras": {"rear": {"state": "running", "why": "", "frames": 10, "frame_age_s": 0.1}},
        "gps": {"state": "fix", "stale": False, "fix": {"lat": 1.0, "lon": 2.0}},
        "hotlist": {"entries": 3, "version": 7, "stale": False, "age_s": 130.0},
        "uplink": {"connected": True, "sent": 0, "acked": 0},
    }


def test_a_healthy_car_is_ok_and_counts_its_reads_over_five_minutes():
    report, clock = healthy(), Clock()
    status = CarStatus(lambda: report, clock)
    now = status.now()
    assert carstatus.levels(now) == dict.fromkeys(carstatus.PARTS, OK)
    assert carstatus.problems(now) == []
    assert now["hotlist"]["text"] == "LIST 2 min" and now["uplink"]["text"] == "HQ ✓"
    for _ in range(4):  # 4 reads a minute
        clock.t += 60
        report["reads"] += 4
        status.now()
    assert status.now()["camera"]["text"] == "CAM 16 reads/5 min"
    for _ in range(3):
        clock.t += 60
        status.now()  # no reads for three minutes: the oldest drop out of the window
    assert status.now()["camera"]["text"] == "CAM 8 reads/5 min"


def test_each_failure_is_named_with_what_to_do():
    report, clock = healthy(), Clock()
    status = CarStatus(lambda: report, clock)
    report["cameras"]["rear"] = {
        "state": "reconnecting",
        "why": "cannot open camera /dev/video0",
        "frame_age_s": None,
    }
    cam = status.now()["camera"]
    assert cam["level"] == FAIL and "/dev/video0" in cam["problem"]
    assert "fleet technician" in cam["problem"]
    report["cameras"]["rear"] = {"state": "running", "why": "", "frame_age_s": 45.0}
    assert "no picture for 45 s" in status.now()["camera"]["problem"]
    report["cameras"] = {}
    assert status.now()["camera"]["problem"].startswith("No camera configured")
    report["hotlist"]["stale"] = True
    assert status.now()["hotlist"]["level"] == FAIL
    assert "HOTLIST OUT OF DATE" in carstatus.problems(status.now())[1]


def test_a_lost_gps_fix_or_hq_link_is_a_warning_first_and_a_failure_when_it_lasts():
    report, clock = healthy(), Clock()
    status = CarStatus(lambda: report, clock)
    report["gps"] = {"state": "no_fix", "stale": True, "fix": None}
    report["uplink"] = {"connected": False}
    report["outbox"] = 12
    first = status.now()
    assert first["gps"]["level"] == WARN  # a tunnel
    assert first["uplink"] == {"level": OK, "text": "HQ connecting", "problem": ""}
    clock.t += 30
    assert status.now()["uplink"]["level"] == WARN
    assert "12 waiting" in status.now()["uplink"]["problem"]
    clock.t += 40
    assert status.now()["gps"]["level"] == FAIL
    assert status.now()["gps"]["problem"].startswith("No GPS fix for 70 s")
    clock.t += carstatus.HQ_FAIL_AFTER_S
    assert status.now()["uplink"]["level"] == FAIL
    report["gps"] = {"state": "fix", "stale": False, "fix": {"lat": 1.0}}
    report["uplink"] = {"connected": True}
    assert carstatus.levels(status.now()) == dict.fromkeys(carstatus.PARTS, OK)
    report["uplink"] = {"connected": False}  # a new outage starts from zero
    assert status.now()["uplink"]["text"] == "HQ connecting"


def test_the_page_hears_of_a_change_at_once_and_of_figures_every_ten_seconds(caplog):
    report, clock = healthy(), Clock()
    bus = EventBus()
    q, _ = bus.subscribe()
    page = PageStatus(bus, None, CarStatus(lambda: report, clock))
    caplog.set_level(logging.INFO, "alprd.supervise")
    page.tick(clock.t)
    assert q.get_nowait()["car"]["camera"]["level"] == OK
    report["reads"] = 5
    clock.t += 2
    page.tick(clock.t)
    assert q.empty()  # figures only: not yet
    clock.t += 10
    page.tick(clock.t)
    assert q.get_nowait()["car"]["camera"]["text"] == "CAM 5 reads/5 min"
    report["cameras"]["rear"] = {"state": "reconnecting", "why": "unplugged", "frame_age_s": None}
    clock.t += 1
    page.tick(clock.t)
    ev = q.get_nowait()
    assert ev["problems"] and "unplugged" in ev["problems"][0]
    for _ in range(5):
        clock.t += 1
        page.tick(clock.t)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("car: ")]
    assert len(said) == 1 and "unplugged" in said[0]  # one line for the change, not one a tick
    report["cameras"]["rear"] = {"state": "running", "why": "", "frame_age_s": 0.1}
    clock.t += 1
    page.tick(clock.t)
    assert "car: camera working again" in caplog.text
    _, recent = bus.subscribe()  # a page that joins late gets the last status first
    assert recent[0]["type"] == "status" and recent[0]["car"]["camera"]["level"] == OK
