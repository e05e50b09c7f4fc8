"""The GPS reader on real pseudo-terminals fed with receiver logs."""

import os
import random
import time
import tty

import pytest

from alprd.gps import GpsReader, GpsTrack
from tests.helpers import wait_for
from tests.nmea_logs import cold_start, corrupt, epoch


class Pty:
    """A serial port for the test: the reader opens `path`; the test writes to the master."""

    def __init__(self, link):
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.link = link
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.ttyname(self.slave), link)

    def write(self, data: bytes):
        os.write(self.master, data)

    def close(self):
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def port(tmp_path):
    p = Pty(str(tmp_path / "ttyGPS"))
    yield p
    try:
        p.close()
    except OSError:
        pass


def start_reader(link, stale=0.5):
    track = GpsTrack(stale_after_s=stale)
    reader = GpsReader(link, track)
    reader.start()
    # pyserial flushes the input when it opens the port: write only once it is open
    assert wait_for(lambda: reader.state == "running")
    return reader, track


def test_cold_start_then_fix_with_quality(port):
    reader, track = start_reader(port.link)
    try:
        log = cold_start(n_void=3, n_fix=3)
        for e in log[:3]:
            port.write(e)
        assert wait_for(lambda: reader.lines >= 9)
        assert track.latest() is None and track.last_utc == "2026-11-28T18:30:02.00Z"
        for e in log[3:]:
            port.write(e)
        assert wait_for(
            lambda: track.latest() is not None and abs(track.latest().lat - (34.05 + 2e-4)) < 1e-6
        )
        f = track.latest()
        assert f.quality == 1 and f.satellites == 8 and f.hdop == 1.1
        assert f.speed_kmh == pytest.approx(37.0, abs=0.1)
    finally:
        reader.stop()
        reader.join(3)


def test_tunnel_silence_is_stale_not_end_of_stream(port):
    reader, track = start_reader(port.link, stale=0.3)
    try:
        port.write(epoch(0, 34.0, -118.0))
        assert wait_for(lambda: track.latest() is not None)
        assert wait_for(lambda: track.is_stale())  # silence in the tunnel
        time.sleep(1.2)  # longer than the serial timeout: the reader must keep reading
        port.write(epoch(5, 34.001, -118.0))
        assert wait_for(lambda: not track.is_stale() and track.latest().lat > 34.0005)
        assert reader.state == "running"
    finally:
        reader.stop()
        reader.join(3)


def test_bad_checksums_and_random_bytes_are_skipped(port):
    reader, track = start_reader(port.link)
    try:
        rng = random.Random(7)
        good = epoch(0, 34.0, -118.0)
        bad = b"".join(
            corrupt(line) + b"\n" for line in epoch(1, 35.0, -117.0).split(b"\n") if line
        )
        port.write(bytes(rng.randrange(256) for _ in range(300)) + b"\r\n")
        port.write(bad)
        port.write(good)
        assert wait_for(lambda: track.latest() is not None)
        assert track.latest().lat == pytest.approx(34.0)  # the corrupt 35.0 fix never landed
        assert track.errors >= 4
    finally:
        reader.stop()
        reader.join(3)


def test_port_that_closes_and_reappears_is_reopened(tmp_path):
    link = str(tmp_path / "ttyGPS")
    first = Pty(link)
    reader, track = start_reader(link)
    try:
        first.write(epoch(0, 34.0, -118.0))
        assert wait_for(lambda: track.latest() is not None)
        first.close()  # the receiver is unplugged
        assert wait_for(lambda: reader.state == "reopening")
        second = Pty(link)  # and plugged back in
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and track.latest().lat < 34.5:
                second.write(epoch(3, 35.0, -117.0))
                time.sleep(0.3)
            assert track.latest().lat == pytest.approx(35.0)
            assert reader.state == "running"
        finally:
            second.close()
    finally:
        reader.stop()
        reader.join(3)
