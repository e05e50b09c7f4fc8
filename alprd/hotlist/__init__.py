"""The hotlist: entries from HQ, matched against each read, exactly and by look-alikes.

The list: hotlist.py; its CSV form: csvfile.py; matching: index.py; signed sync: sync.py.
"""

from alprd.hotlist.csvfile import COLUMNS, HotlistError, normalise, read_csv
from alprd.hotlist.hotlist import Hotlist

__all__ = ["COLUMNS", "Hotlist", "HotlistError", "normalise", "read_csv"]
