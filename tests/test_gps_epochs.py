"""#23 item 12: a fix joins the RMC and GGA of one epoch by their UTC time, in whatever order
the receiver sends them; proprietary and unparsed sentences are not errors; impossible
positions are refused. The logs below are written here in the sentence order each receiver
family sends (u-blox: RMC first; SiRF and Trimble: GGA first, Trimble with $PTNL; Septentrio
with $PSSN; Furuno with $PFEC), every epoch with its own quality, HDOP and satellite count so
that a value borrowed from another epoch shows."""

from __future__ import annotations

import pytest

from alprd.gps import FixBuilder, GpsTrack
from tests.nmea_logs import sentence


def _pos(second: int) -> tuple[str, str]:
    minutes = 3.0 + second * 0.001
    return f"34{minutes:08.5f}", f"118{14.622:08.5f}"


def _epoch_lines(second: int, quality: int, sats: int, hdop: float, talker: str = "GN"):
    t = f"1830{second:02d}.00"
    lat, lon = _pos(second)
    rmc = sentence(f"{talker}RMC,{t},A,{lat},N,{lon},W,20.0,90.0,281126,,,A")
    gga = sentence(
        f"{talker}GGA,{t},{lat},N,{lon},W,{quality},{sats:02d},{hdop:.1f},70.0,M,-32.0,M,,"
    )
    vtg = sentence(f"{talker}VTG,90.0,T,,M,20.0,N,37.0,K,A")
    gsa = sentence(f"{talker}GSA,A,3,01,02,03,04,05,06,,,,,,,{hdop + 0.8:.1f},{hdop:.1f},1.5")
    gsv = sentence(f"{talker[:1]}PGSV,1,1,04,01,40,083,46,02,17,308,44,03,07,344,39,04,22,228,45")
    return {
        "RMC": rmc,
        "GGA": gga,
        "VTG": vtg,
        "GSA": gsa,
        "GSV": gsv,
        "PTNL": sentence(
            f"PTNL,PJK,{t},112826,+1234567.890,N,+123456.789,E,3,{sats:02d},1.3,EHT+70.0,M"
        ),
        "PSSN": sentence(f"PSSN,HRP,{t},112826,90.0,,,0.1,,,{sats},2,"),
        "PFEC": sentence("PFEC,GPint,RMC01,VTG01,GGA01"),
    }


ORDERS = {
    "u-blox (RMC first)": ["RMC", "VTG", "GGA", "GSA", "GSV"],
    "SiRF (GGA first)": ["GGA", "GSA", "GSV", "RMC", "VTG"],
    "Trimble (GGA, $PTNL, RMC)": ["GGA", "PTNL", "VTG", "RMC"],
    "Septentrio ($PSSN between)": ["GGA", "PSSN", "RMC", "GSA"],
    "Furuno ($PFEC first)": ["PFEC", "RMC", "GGA", "VTG"],
}
EPOCHS = [(1, 8, 0.9), (2, 11, 0.6), (1, 5, 2.4), (4, 14, 0.5), (5, 9, 1.2), (1, 7, 1.8)]


def _feed(order):
    track = GpsTrack(stale_after_s=5)
    b = FixBuilder(track)
    mono = 100.0
    for second, (quality, sats, hdop) in enumerate(EPOCHS):
        lines = _epoch_lines(second, quality, sats, hdop)
        for i, kind in enumerate(order):
            b.feed(lines[kind].decode(), mono + second + i * 0.01)
    b.flush()
    return track


@pytest.mark.parametrize("receiver", list(ORDERS))
def test_each_fix_carries_its_own_epochs_quality(receiver):
    track = _feed(ORDERS[receiver])
    fixes = list(track._fixes)
    assert len(fixes) == len(EPOCHS), f"{receiver}: {len(fixes)} fixes"
    for second, (fix, (quality, sats, hdop)) in enumerate(zip(fixes, EPOCHS)):
        assert fix.utc == f"2026-11-28T18:30:{second:02d}.00Z"
        assert (fix.quality, fix.satellites, fix.hdop) == (quality, sats, hdop), (
            f"{receiver}, epoch {second}: got {(fix.quality, fix.satellites, fix.hdop)}"
        )
        lat, _ = _pos(second)
        assert fix.lat == pytest.approx(34 + float(lat[2:]) / 60)
    assert track.errors == 0, f"{receiver}: proprietary or unparsed sentences counted as errors"


def test_fix_time_is_when_its_rmc_arrived():
    track = _feed(ORDERS["SiRF (GGA first)"])
    monos = [f.mono for f in track._fixes]
    assert monos == pytest.approx([100.0 + s + 0.03 for s in range(len(EPOCHS))])


def test_rmc_only_receiver_gets_fixes_without_waiting_once_known():
    track = GpsTrack(stale_after_s=5)
    b = FixBuilder(track)
    b.feed(_epoch_lines(0, 1, 8, 0.9)["RMC"].decode(), 1.0)
    assert track.latest() is None  # its GGA may follow (u-blox order)
    b.feed(_epoch_lines(1, 1, 8, 0.9)["RMC"].decode(), 2.0)
    assert [f.mono for f in track._fixes] == [1.0, 2.0]  # epoch 0 without GGA; then at once
    assert track.latest().quality == 1


def test_a_void_gga_epoch_gives_no_fix_even_with_a_valid_rmc():
    track = GpsTrack(stale_after_s=5)
    b = FixBuilder(track)
    lines = _epoch_lines(0, 0, 0, 99.9)
    for kind in ("RMC", "GGA"):
        b.feed(lines[kind].decode(), 1.0)
    lines = _epoch_lines(1, 1, 6, 1.5)
    for kind in ("RMC", "GGA"):
        b.feed(lines[kind].decode(), 2.0)
    b.flush()
    assert [f.utc[-6:] for f in track._fixes] == ["01.00Z"]


@pytest.mark.parametrize(
    "lat,lon",
    [
        ("34nan", "11814.62200"),
        ("9100.00000", "11814.62200"),
        ("3403.13200", "18100.00000"),
        ("3475.00000", "11814.622"),
        ("34inf", "11814.62200"),
    ],
)
def test_impossible_positions_are_refused(lat, lon):
    track = GpsTrack(stale_after_s=5)
    b = FixBuilder(track)
    b.feed(sentence(f"GPRMC,183000.00,A,{lat},N,{lon},W,20.0,90.0,281126,,,A").decode(), 1.0)
    b.flush()
    assert track.latest() is None
    assert track.errors == 1


def test_nan_hdop_and_speed_are_refused():
    track = GpsTrack(stale_after_s=5)
    b = FixBuilder(track)
    b.feed(
        sentence("GPRMC,183000.00,A,3403.13200,N,11814.62200,W,nan,90.0,281126,,,A").decode(), 1.0
    )
    b.feed(
        sentence("GPGGA,183000.00,3403.13200,N,11814.62200,W,1,08,inf,70.0,M,-32.0,M,,").decode(),
        1.0,
    )
    assert track.errors == 2


def test_a_recording_retimed_runs_on_from_the_given_time():
    from datetime import datetime, timezone

    from alprd import demo
    from alprd.gps.nmea import parse_sentence, retimed, rmc

    start = datetime(2027, 12, 31, 23, 59, 50, tzinfo=timezone.utc)
    out = retimed(demo.TRACK.read_bytes(), start, repeat=2).decode().split()
    rmcs = [rmc(parse_sentence(line))["utc"] for line in out if "RMC" in line[:6]]
    assert rmcs[0] == "2027-12-31T23:59:50.00Z" and rmcs[10] == "2028-01-01T00:00:00.00Z"
    assert len(rmcs) == 46 and rmcs[23] == "2028-01-01T00:00:13.00Z"  # the second drive
    ggas = [line.split(",")[1] for line in out if "GGA" in line[:6]]
    assert ggas[10] == "000000.00"


def test_the_demo_replays_its_recording_as_if_live():
    from datetime import datetime, timezone

    from alprd import demo
    from alprd.gps import GpsReader
    from tests.helpers import wait_for

    track = GpsTrack()
    reader = GpsReader(str(demo.TRACK), track, replay_retime=True)
    reader.start()
    try:
        assert wait_for(lambda: track.latest() is not None, 5)
    finally:
        reader.stop()
    gps = datetime.fromisoformat(track.last_utc.replace("Z", "+00:00"))
    assert abs((gps - datetime.now(timezone.utc)).total_seconds()) < 5
