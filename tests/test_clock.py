from datetime import datetime, timezone
from unittest import mock

from alprd import clock


def test_system_clock_when_set():
    utc, source = clock.utc_for(100.0, now_mono=100.5)
    assert source == "system" and utc.endswith("Z")
    t = datetime.fromisoformat(utc.replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - t).total_seconds() - 0.5) < 2


def test_gps_time_when_the_pi_has_no_rtc():
    unset = datetime(1970, 1, 1, 0, 5, tzinfo=timezone.utc)
    with mock.patch.object(clock, "datetime", wraps=datetime) as dt:
        dt.now.return_value = unset
        utc, source = clock.utc_for(50.0, gps_utc="2026-11-28T18:30:00.00Z", gps_utc_mono=48.0,
                                    now_mono=51.0)
    assert source == "gps"
    assert utc == "2026-11-28T18:30:02.000Z"  # GPS time plus the monotonic time since


def test_no_trusted_clock_is_marked():
    unset = datetime(1970, 1, 1, tzinfo=timezone.utc)
    with mock.patch.object(clock, "datetime", wraps=datetime) as dt:
        dt.now.return_value = unset
        utc, source = clock.utc_for(1.0, now_mono=1.0)
    assert source == "system-unset" and utc.startswith("1970")
