"""Receiver logs for the GPS tests, in the shape a u-blox receiver writes them:
a cold start (void RMC, GGA quality 0), then fixes, at one epoch per second."""

from __future__ import annotations


def checksummed(body: str) -> str:
    """A sentence with its checksum, computed here independently of alprd.gps.nmea."""
    c = 0
    for ch in body:
        c ^= ord(ch)
    return f"${body}*{c & 0xFF:02X}"


def sentence(body: str) -> bytes:
    return (checksummed(body) + "\r\n").encode()


def epoch(second: int, lat: float | None, lon: float | None, talker: str = "GN") -> bytes:
    t = f"1830{second:02d}.00"
    if lat is None:
        return (
            sentence(f"{talker}RMC,{t},V,,,,,,,281126,,,N")
            + sentence(f"{talker}GGA,{t},,,,,0,00,99.99,,,,,,")
            + sentence(f"{talker}GSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99")
        )
    la, lo = abs(lat), abs(lon)
    lat_s = f"{int(la):02d}{(la - int(la)) * 60:08.5f}"
    lon_s = f"{int(lo):03d}{(lo - int(lo)) * 60:08.5f}"
    ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    return (
        sentence(f"{talker}RMC,{t},A,{lat_s},{ns},{lon_s},{ew},20.0,90.0,281126,,,A")
        + sentence(f"{talker}VTG,90.0,T,,M,20.0,N,37.0,K,A")
        + sentence(f"{talker}GGA,{t},{lat_s},{ns},{lon_s},{ew},1,08,1.1,70.0,M,-32.0,M,,")
        + sentence(f"{talker}GSA,A,3,01,02,03,04,05,06,07,08,,,,,1.9,1.1,1.5")
    )


def cold_start(n_void: int = 3, n_fix: int = 3, lat: float = 34.05, lon: float = -118.24):
    return [epoch(s, None, None) for s in range(n_void)] + [
        epoch(n_void + s, lat + s * 1e-4, lon) for s in range(n_fix)
    ]


def corrupt(line: bytes) -> bytes:
    """The same sentence with one payload character flipped: its checksum no longer holds."""
    i = line.index(b",") + 3
    return line[:i] + bytes([line[i] ^ 0x01]) + line[i + 1 :]
