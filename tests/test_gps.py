import pytest

from alprd.gps import FixBuilder, GpsTrack
from alprd.gps.nmea import NmeaError, parse_sentence, rmc
from tests.nmea_logs import checksummed

nmea = checksummed


RMC = nmea("GPRMC,183000.00,A,3403.13200,N,11814.62200,W,19.4,90.0,281126,,,A")
GGA = nmea("GNGGA,183000.00,3403.13200,N,11814.62200,W,1,09,0.9,71.0,M,-32.0,M,,")


def test_rmc_fields():
    s = parse_sentence(RMC)
    assert (s.talker, s.kind) == ("GP", "RMC")
    d = rmc(s)
    assert d["valid"] and d["utc"] == "2026-11-28T18:30:00.00Z"
    assert d["lat"] == pytest.approx(34.0522, abs=1e-4)
    assert d["lon"] == pytest.approx(-118.2437, abs=1e-4)
    assert d["speed_kmh"] == pytest.approx(19.4 * 1.852)


def test_bad_checksum_is_refused_with_reason():
    bad = RMC[:-2] + ("00" if RMC[-2:] != "00" else "11")
    with pytest.raises(NmeaError, match="GPRMC: checksum"):
        parse_sentence(bad)


@pytest.mark.parametrize("line", ["", "garbage", "$GPRMC,1,2", "\x00\xff$$*", "$*00"])
def test_junk_is_refused(line):
    with pytest.raises(NmeaError):
        parse_sentence(line)


def test_builder_makes_fixes_with_quality_and_ignores_junk():
    track = GpsTrack(stale_after_s=5)
    b = FixBuilder(track)
    b.feed("random bytes \x00\x01", 0.5)
    b.feed(GGA, 0.9)
    b.feed(RMC, 1.0)
    f = track.latest()
    assert f is not None and f.quality == 1 and f.satellites == 9 and f.hdop == 0.9
    assert track.errors == 1


def test_void_rmc_gives_no_fix():
    track = GpsTrack()
    FixBuilder(track).feed(nmea("GPRMC,183000.00,V,,,,,,,281126,,,N"), 1.0)
    assert track.latest() is None
    assert track.last_utc == "2026-11-28T18:30:00.00Z"  # time is known even without a fix


def test_position_is_interpolated_between_fixes():
    from alprd.types import Fix

    t = GpsTrack(stale_after_s=5)
    t.add(Fix(lat=10.0, lon=20.0, mono=100.0, quality=1))
    t.add(Fix(lat=11.0, lon=22.0, mono=101.0, quality=1))
    mid = t.at(100.25)
    assert mid.lat == pytest.approx(10.25) and mid.lon == pytest.approx(20.5)
    assert t.at(200.0) is None  # too long after the last fix: no position rather than a wrong one
    assert t.is_stale(now=107.0) and not t.is_stale(now=102.0)
