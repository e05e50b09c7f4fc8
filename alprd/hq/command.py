"""`alprd hq`: the reference HQ endpoint as a service (docs/hq-operations.md).

alprd hq [--workers N]      the leader: publishes the hotlist (re-imported whenever its file
                            changes: deltas, cancellations), applies retention hourly
                            (POL-09), refreshes the retained snapshot, serves the fleet
                            page; with --workers, N ingest workers in child processes
                            (restarted if one dies); without, it ingests itself
alprd hq --role ingest      one ingest worker (shared subscription), for systemd units
alprd hq status [--json]    each car's health, from the database
alprd hq broker-config      mosquitto's listener, ACL and revocation list for the fleet
alprd hq rotate-body-key    a new key seals every record body; the old keys are dropped
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from alprd.hq.hotlists import HotlistWatch, read_hotlist
from alprd.logs import setup_logging
from alprd.protocol.tls import client_context

log = logging.getLogger("alprd")

SHARE_GROUP = "alprd-hq"
SNAPSHOT_EVERY_S = 900.0  # deltas since the last snapshot: re-publish it retained
WORKER_RESPAWN_S = 5.0  # a worker that keeps ending (database down) restarts this often


class BrokerTls:
    """HQ's mutual TLS to the broker: the fleet CA alone trusted, TLS 1.2 at least."""

    def __init__(self, ca_file: str, cert_file: str, key_file: str) -> None:
        self.files = (ca_file, cert_file, key_file)

    def context(self) -> ssl.SSLContext:
        ca, cert, key = self.files
        try:
            return client_context(("--tls-ca", ca), ("--tls-cert", cert), ("--tls-key", key))
        except ValueError as exc:
            raise SystemExit(f"hq: TLS: {exc}") from exc


def _tls(a: argparse.Namespace) -> BrokerTls | None:
    if not a.broker.startswith("mqtts://"):
        return None
    missing = [n for n in ("tls_ca", "tls_cert", "tls_key") if not getattr(a, n)]
    if missing:
        raise SystemExit(
            f"hq: {a.broker} needs --tls-ca, --tls-cert and --tls-key "
            f"(HQ's certificate from `alprd provision`)"
        )
    return BrokerTls(a.tls_ca, a.tls_cert, a.tls_key)


def _spawn_worker(a: argparse.Namespace, i: int) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "alprd",
        "hq",
        "--role",
        "ingest",
        "--broker",
        a.broker,
        "--db",
        a.db,
        "--topic-prefix",
        a.topic_prefix,
        "--client-id",
        f"{a.client_id}-ingest-{i}",
    ]
    for opt in ("index_key", "body_keys", "tls_ca", "tls_cert", "tls_key"):
        if getattr(a, opt):
            argv += [f"--{opt.replace('_', '-')}", getattr(a, opt)]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL)


def broker_config(a: argparse.Namespace) -> int:
    """Write OUT/alprd-fleet.conf (a mosquitto listener: mutual TLS, identity from the
    certificate, the packet cap, the CRL) and OUT/alprd-fleet-dynsec.json (the access rules,
    for the dynamic-security plugin: a role per car of --cars, HQ's role, nothing else)."""
    import json

    from alprd.protocol.acl import certificate_cn, dynsec_config, mosquitto_tls_conf

    if not (a.tls_ca and a.tls_cert and a.tls_key and a.cars):
        print(
            "hq broker-config: needs --tls-ca, --tls-cert (the broker's and HQ's "
            "certificate), --tls-key and --cars (the fleet's unit ids, one a line)",
            file=sys.stderr,
        )
        return 2
    try:
        cars = [
            u.strip()
            for u in Path(a.cars).read_text().splitlines()
            if u.strip() and not u.startswith("#")
        ]
        rules = dynsec_config(a.topic_prefix, certificate_cn(Path(a.tls_cert).read_bytes()), cars)
        conf_text = mosquitto_tls_conf(
            str(Path(a.tls_ca).resolve()),
            str(Path(a.tls_cert).resolve()),
            str(Path(a.tls_key).resolve()),
            None,
            str(Path(a.crl).resolve()) if a.crl else None,
            str((Path(a.out) / "alprd-fleet-dynsec.json").resolve()),
        )
    except (OSError, ValueError) as exc:
        print(f"hq broker-config: {exc}", file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rules_file = out / "alprd-fleet-dynsec.json"
    rules_file.write_text(json.dumps(rules, indent=1) + "\n")
    host, _, port = a.listen.rpartition(":")
    conf = out / "alprd-fleet.conf"
    conf.write_text(
        "# made by `alprd hq broker-config` (docs/hq-operations.md)\n"
        "per_listener_settings false\n"
        f"listener {port} {host}\n" + conf_text
    )
    print(
        f"wrote {conf} and {rules_file} ({len(cars)} cars): the broker must be able to "
        "write the rules file (the plugin keeps its state there); restart it to apply"
    )
    return 0


def rotate_body_key(a: argparse.Namespace) -> int:
    """A new body key, every body sealed again under it, the old keys dropped (docs/
    hq-operations.md): run with HQ stopped, so no process writes under an old key meanwhile
    (the cars keep their records until HQ is back). Cut short, it is run again."""
    from alprd.hq import open_store
    from alprd.hq.sealing import add_key, body_keys_path, drop_old_keys

    setup_logging("INFO")
    ring = body_keys_path(a.db, a.body_keys)
    try:
        new = add_key(ring)
        store = open_store(a.db, Path(a.index_key) if a.index_key else None, ring)
        n = store.reseal()
        store.close()
        drop_old_keys(ring)
    except (OSError, ValueError) as exc:
        print(f"hq rotate-body-key: {exc}; the ring keeps every key: run it again", file=sys.stderr)
        return 1
    print(f"hq: {n} bodies sealed under the new key {new.current}; old keys dropped from {ring}")
    return 0


def main(a: argparse.Namespace) -> int:
    if getattr(a, "action", "serve") == "rotate-body-key":
        return rotate_body_key(a)
    if getattr(a, "action", "serve") == "status":
        from alprd.hq.fleet import status_main

        return status_main(a)
    if getattr(a, "action", "serve") == "models":
        return models_main(a)
    if getattr(a, "action", "serve") == "qa-export":
        from alprd.hq.qa import qa_export_main

        return qa_export_main(a)
    if getattr(a, "action", "serve") == "quality":
        from alprd.hq.quality import quality_main

        return quality_main(a)
    if getattr(a, "action", "serve") == "search":
        from alprd.hq.search import search_main

        return search_main(a)
    if getattr(a, "action", "serve") == "broker-config":
        return broker_config(a)
    from alprd.hq import HqEndpoint, signing_key
    from alprd.hq.importers import ImportRefused

    setup_logging("INFO")
    role = a.role
    ingest = role == "ingest" or (role == "leader" and not a.workers)
    key = None
    if a.hotlist and role == "leader":
        if not a.signing_key:
            print("hq: --hotlist needs --signing-key", file=sys.stderr)
            return 2
        try:  # refused at start: a file that cannot be used is an operator's error
            read_hotlist(Path(a.hotlist), a.hotlist_format)
        except (ImportRefused, OSError) as exc:
            print(f"hq: hotlist refused, nothing published: {exc}", file=sys.stderr)
            return 2
        key = signing_key(Path(a.signing_key))
    hq = HqEndpoint(
        a.broker,
        a.db,
        a.topic_prefix,
        client_id=a.client_id,
        tls=_tls(a),
        ingest=ingest,
        share=SHARE_GROUP if role == "ingest" else None,
        index_key=Path(a.index_key) if a.index_key else None,
        body_keys=Path(a.body_keys) if a.body_keys else None,
    )
    hq.on_records = lambda unit, recs: log.info("hq: stored %d record(s) from %s", len(recs), unit)
    hq.start()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if role == "ingest":
        print(
            f"alprd hq: ingest worker {a.client_id} on {a.broker} "
            f"($share/{SHARE_GROUP}), storing in {hq.store.backend}",
            flush=True,
        )
        while not stop.wait(0.25):
            hq.supervise()
        hq.stop()
        return 0
    workers = {i: _spawn_worker(a, i) for i in range(a.workers)}
    respawn_at: dict[int, float] = {}
    watch = HotlistWatch(hq, Path(a.hotlist), a.hotlist_format, key) if key else None
    page = None
    if a.http:
        from alprd.hq.fleet import serve_page

        host, _, port = a.http.rpartition(":")
        page = serve_page(hq.store, host or "127.0.0.1", int(port), hq.broker_state)
    print(
        f"alprd hq: connecting to the broker at {a.broker}, storing in {hq.store.backend}"
        f"{f', {a.workers} ingest workers' if a.workers else ''}"
        f"{f', fleet page on http://{a.http}/' if a.http else ''}",
        flush=True,
    )
    next_retention = time.monotonic()
    next_snapshot = time.monotonic() + SNAPSHOT_EVERY_S
    while not stop.wait(0.25):
        hq.supervise()
        for i, proc in list(workers.items()):
            if proc.poll() is not None and time.monotonic() >= respawn_at.get(i, 0.0):
                log.error("hq: ingest worker %d ended (%s); starting it again", i, proc.returncode)
                workers[i] = _spawn_worker(a, i)
                respawn_at[i] = time.monotonic() + WORKER_RESPAWN_S  # not in a tight loop
        if watch and hq.connected.is_set():
            watch.poll()
        now = time.monotonic()
        if key and now >= next_snapshot:
            try:
                hq.refresh_snapshot(key)
            except (TimeoutError, OSError) as exc:
                log.error("hq: snapshot not refreshed (%s)", exc)
            next_snapshot = now + SNAPSHOT_EVERY_S
        if now >= next_retention:  # POL-09, hourly
            try:
                logical, permanent = hq.store.apply_retention(datetime.now(timezone.utc))
                if logical or permanent:
                    log.info(
                        "hq: retention: %d logically deleted, %d permanently deleted",
                        logical,
                        permanent,
                    )
                next_retention = time.monotonic() + 3600
            except Exception as exc:  # noqa: BLE001  HQ goes on; tried again in a minute
                log.error(
                    "hq: retention not applied (%s: %s); again in a minute", type(exc).__name__, exc
                )
                next_retention = time.monotonic() + 60
    for proc in workers.values():
        proc.terminate()
    for proc in workers.values():
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if page:
        page.shutdown()
    hq.stop()
    return 0


def models_main(a: argparse.Namespace) -> int:
    """`alprd hq models add|canary|promote|rollback`: model bundles to the fleet, staged."""
    from datetime import timedelta

    from alprd.hq import HqEndpoint, signing_key
    from alprd.hq.rollout import Rollout, RolloutRefused

    rollout = Rollout(Path(a.bundles))
    units = [u.strip() for u in (a.units or "").split(",") if u.strip()]
    if a.what == "add":
        if not (a.models_dir and a.version and a.signing_key):
            print("hq models add: give --models-dir, --version and --signing-key", file=sys.stderr)
            return 2
        try:
            n = rollout.add(Path(a.models_dir), a.version, signing_key(Path(a.signing_key)))
        except (RolloutRefused, ValueError, OSError) as exc:
            print(f"hq models add: {exc}", file=sys.stderr)
            return 1
        print(f"hq models: {a.version} bundled and signed, {n} bytes in {a.bundles}")
        return 0
    hq = HqEndpoint(
        a.broker,
        a.db,
        a.topic_prefix,
        client_id=f"alprd-hq-models-{os.getpid()}",
        tls=_tls(a),
        ingest=False,
        index_key=Path(a.index_key) if a.index_key else None,
        body_keys=Path(a.body_keys) if a.body_keys else None,
    )
    hq.start()
    now = datetime.now(timezone.utc)
    try:
        if a.what == "canary":
            rollout.canary(hq, a.version or "", units, now)
            print(f"hq models: {a.version} sent to {', '.join(units)}")
        elif a.what == "promote":
            fleet = [u["unit_id"] for u in hq.store.units()]
            hold = timedelta(hours=a.hold_hours)
            sent = rollout.promote(hq, hq.store, a.version or "", fleet, now, hold)
            print(f"hq models: {a.version} promoted to {', '.join(sent) or 'nobody new'}")
        elif a.what == "rollback":
            back = rollout.rollback(hq, units or None)
            print("hq models: rolled back: " + ", ".join(f"{u} -> {v}" for u, v in back.items()))
        else:
            print("hq models: say add, canary, promote or rollback", file=sys.stderr)
            return 2
    except (RolloutRefused, TimeoutError) as exc:
        print(f"hq models {a.what}: {exc}", file=sys.stderr)
        return 1
    finally:
        hq.stop()
    return 0
