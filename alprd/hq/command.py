"""`alprd hq`: the reference HQ endpoint as a service: receive, store, acknowledge, apply
retention hourly (POL-09); publish a signed hotlist from a file."""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from alprd.logs import setup_logging

log = logging.getLogger("alprd")


def main(a) -> int:
    from alprd.hq import HqEndpoint, signing_key
    from alprd.hq.importers import PARSERS, ImportRefused
    setup_logging("INFO")
    entries = None
    if a.hotlist:
        if not a.signing_key:
            print("hq: --hotlist needs --signing-key", file=sys.stderr)
            return 2
        try:
            if a.hotlist_format == "csv":
                from alprd.hotlist.csvfile import HotlistError, read_csv
                try:
                    entries, errors = read_csv(Path(a.hotlist)), []
                except HotlistError as exc:
                    raise ImportRefused(str(exc)) from exc
            else:
                result = PARSERS[a.hotlist_format](Path(a.hotlist))
                entries, errors = result.entries, result.errors
        except ImportRefused as exc:
            print(f"hq: hotlist refused, nothing published: {exc}", file=sys.stderr)
            return 2
        for err in errors:
            log.warning("hq: %s: skipped %s", a.hotlist, err)
    hq = HqEndpoint(a.broker, Path(a.db), a.topic_prefix)
    hq.on_records = lambda unit, recs: log.info("hq: stored %d record(s) from %s",
                                                len(recs), unit)
    hq.start()
    if entries is not None:
        version = hq.publish_hotlist(entries, signing_key(Path(a.signing_key)))
        log.info("hq: published hotlist version %d (%d entries)", version, len(entries))
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"alprd hq: listening on {a.broker}, storing in {a.db}", flush=True)
    next_retention = time.monotonic()
    while not stop.wait(0.5):
        if time.monotonic() >= next_retention:  # POL-09, hourly
            logical, permanent = hq.store.apply_retention(datetime.now(timezone.utc))
            if logical or permanent:
                log.info("hq: retention: %d logically deleted, %d permanently deleted",
                         logical, permanent)
            next_retention = time.monotonic() + 3600
    hq.stop()
    return 0
