"""GPS: read NMEA from a serial port (or replay a log), keep recent fixes, interpolate.

The serial reader and the track: reader.py; sentences: nmea.py.
"""

from alprd.gps.reader import FixBuilder, GpsReader, GpsTrack

__all__ = ["FixBuilder", "GpsReader", "GpsTrack"]
