"""`alprd demo`: the daemon on the bundled demo, with its own broker and reference HQ."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from alprd.config import ConfigError, load
from alprd.console import port_free, print_read, startup_errors
from alprd.logs import setup_logging

log = logging.getLogger("alprd")


def _free_or_any(port: int) -> int:
    return port if port_free(f"127.0.0.1:{port}") else 0


def main(a: argparse.Namespace) -> int:
    from alprd import demo
    from alprd.daemon import Daemon
    from alprd.demo.broker import BrokerError, Mosquitto
    from alprd.hotlist import read_csv
    from alprd.hq import HqEndpoint, signing_key
    from alprd.hq.fleet import serve_page
    from alprd.provision import provision
    from alprd.uplink import TlsFiles

    state = Path(a.state_dir) if a.state_dir else demo.default_state_dir()
    state.mkdir(parents=True, exist_ok=True)
    if not a.keep_state and demo.start_fresh(state):
        print(
            f"alprd demo: starting fresh (the last run's reads, alerts and HQ records in {state} "
            "are discarded; --keep-state keeps them)",
            flush=True,
        )
    keys = state / "keys"
    provision(keys, "DEMO-1")  # idempotent: keys and certificates for this demo only
    try:
        cfg = load(None, defaults=demo.demo_defaults(state, loop=not a.once))
    except ConfigError as exc:
        print(f"config: {exc}", file=sys.stderr)
        return 2
    setup_logging(cfg.logging.level, cfg.logging.levels)
    broker = None
    hq = None
    fleet_page = None
    if not cfg.uplink.broker:
        try:
            broker = Mosquitto(
                tls=(keys / "ca.crt", keys / "hq.crt", keys / "hq.key"), cars=[cfg.vehicle.unit_id]
            ).start()  # as broker-config makes it
        except BrokerError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 2
        cfg.uplink.broker = broker.url  # mutual TLS, as in a car
        hq = HqEndpoint(
            broker.url,
            state / "hq.db",
            cfg.uplink.topic_prefix,
            tls=TlsFiles(str(keys / "ca.crt"), str(keys / "hq.crt"), str(keys / "hq.key")),
        )
        hq.on_records = lambda unit, recs: log.info(
            "hq: received %d record(s) from %s", len(recs), unit
        )
        hq.start()
        # the demo hotlist reaches the car the way a real one does: signed by HQ, over MQTT
        # (a snapshot: this broker is new, and holds no retained list yet)
        version = hq.publish_hotlist(
            read_csv(Path(cfg.hotlist.path)), signing_key(keys / "hq-hotlist.key"), snapshot=True
        )
        log.info("hq: published the demo hotlist, version %d", version)
        hq.publish_roster(demo.demo_roster(), signing_key(keys / "hq-hotlist.key"))
        fleet_page = serve_page(hq.store, "127.0.0.1", _free_or_any(8081), hq.broker_state)
        notes = {
            b: "" if st == "active" and t else f" ({st if st != 'active' else 'untrained'})"
            for b, _, _, _, t, st in demo.DEMO_USERS
        }
        print(
            "demo accounts (badge = PIN): "
            + ", ".join(f"{b} {r}{notes[b]}" for b, _, r, _, _, _ in demo.DEMO_USERS),
            flush=True,
        )
        cfg.hotlist.public_key = str(keys / "hq-hotlist.key.pub")
        cfg.hotlist.path = ""
    print(f"alprd demo: state in {state}; broker {cfg.uplink.broker}", flush=True)
    if not port_free(cfg.ui.listen):
        log.warning("in-car page: %s is busy; using a free port", cfg.ui.listen)
        cfg.ui.listen = "127.0.0.1:0"
    try:
        try:
            daemon = Daemon(cfg, on_read=print_read)
        except startup_errors() as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 2
        daemon.install_signal_handlers()
        if daemon.page:
            print(
                f"in-car page: {daemon.page.url} (sign in as 1001, PIN 1001: a patrol officer)",
                flush=True,
            )
        if fleet_page is not None:
            print(f"HQ's fleet page: http://127.0.0.1:{fleet_page.server_address[1]}/", flush=True)
        print(
            f"self-test this demo: ALPRD_STORE__PATH={state / 'alprd.db'} alprd selftest",
            flush=True,
        )
        daemon.run(
            until=daemon.all_sources_finished if a.once else None, drain_s=10.0 if a.once else 0.0
        )
        if hq is not None:
            print(
                f"hq: {hq.store.count('read')} reads, {hq.store.count('hit')} hits stored "
                f"at HQ (in {state / 'hq.db'}: `alprd hq status --db {state / 'hq.db'}`)",
                flush=True,
            )
    finally:
        if fleet_page is not None:
            fleet_page.shutdown()
        if hq:
            hq.stop()
        if broker:
            broker.stop()
    return 0
