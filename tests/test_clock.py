from datetime import datetime, timezone

from alprd import clock


def test_system_clock_when_set():
    now = datetime.now(timezone.utc)
    utc, source = clock.UtcClock(now=lambda: now, mono=lambda: 100.5).stamp(100.0)
    assert source == "system" and utc.endswith("Z")
    t = datetime.fromisoformat(utc.replace("Z", "+00:00"))
    assert abs((now - t).total_seconds() - 0.5) < 0.01


def test_gps_time_when_the_pi_has_no_rtc():
    unset = datetime(1970, 1, 1, 0, 5, tzinfo=timezone.utc)
    c = clock.UtcClock(now=lambda: unset, mono=lambda: 51.0)
    utc, source = c.stamp(50.0, gps_utc="2026-11-28T18:30:00.00Z", gps_utc_mono=48.0)
    assert source == "gps"
    assert utc == "2026-11-28T18:30:02.000Z"  # GPS time plus the monotonic time since


def test_no_trusted_clock_is_marked():
    unset = datetime(1970, 1, 1, tzinfo=timezone.utc)
    utc, source = clock.UtcClock(now=lambda: unset, mono=lambda: 1.0).stamp(1.0)
    assert source == "system-unset" and utc.startswith("1970")


# -- #23 item 9: a clock restored by fake-hwclock, or one the GPS contradicts, is not trusted --
from datetime import timedelta  # noqa: E402


class Wall:
    """An injected system clock."""

    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def _gps_at(t: datetime, mono: float) -> dict:
    return {"gps_utc": clock.iso(t), "gps_utc_mono": mono}


def test_a_clock_earlier_than_the_last_recorded_time_is_distrusted_after_a_restart(tmp_path):
    floor = tmp_path / "clock-floor"
    true = datetime.now(timezone.utc).replace(microsecond=0)
    first = clock.UtcClock(floor, margin_s=60, now=Wall(true), mono=lambda: 10.0)
    assert first.stamp(10.0)[1] == "system"
    first.save()
    # power cut; fake-hwclock restores the time it saved an hour before the last read
    restored = Wall(true - timedelta(hours=1))
    second = clock.UtcClock(floor, margin_s=60, now=restored, mono=lambda: 5.0)
    utc, source = second.stamp(5.0, **_gps_at(true + timedelta(minutes=2), 4.0))
    assert source == "gps" and utc == clock.iso(true + timedelta(minutes=2, seconds=1))
    # no GPS yet: the time is kept, marked untrusted
    assert second.stamp(5.0)[1] == "system-unset"


def test_a_system_clock_the_gps_contradicts_is_not_used():
    true = datetime.now(timezone.utc).replace(microsecond=0)
    c = clock.UtcClock(
        None, margin_s=60, now=Wall(true + timedelta(minutes=10)), mono=lambda: 100.0
    )
    utc, source = c.stamp(100.0, **_gps_at(true, 100.0))
    assert (utc, source) == (clock.iso(true), "gps")
    close = clock.UtcClock(
        None, margin_s=60, now=Wall(true + timedelta(seconds=20)), mono=lambda: 100.0
    )
    assert close.stamp(100.0, **_gps_at(true, 100.0))[1] == "system"  # within the margin


def test_the_last_recorded_time_never_goes_back_and_a_confirmed_clock_resets_it(tmp_path):
    floor = tmp_path / "clock-floor"
    true = datetime.now(timezone.utc).replace(microsecond=0)
    ahead = clock.UtcClock(
        floor, margin_s=60, now=Wall(true + timedelta(days=30)), mono=lambda: 1.0
    )
    ahead.stamp(1.0)  # a clock 30 days ahead, no GPS to say so: trusted, and recorded
    ahead.save()
    back = clock.UtcClock(floor, margin_s=60, now=Wall(true), mono=lambda: 1.0)
    assert back.stamp(1.0)[1] == "system-unset"  # earlier than recorded: suspect ...
    assert back.stamp(1.0, **_gps_at(true, 1.0))[1] == "system"  # ... until GPS agrees
    back.save()
    again = clock.UtcClock(floor, margin_s=60, now=Wall(true), mono=lambda: 2.0)
    assert again.stamp(2.0)[1] == "system"
