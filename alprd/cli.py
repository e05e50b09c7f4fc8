"""The `alprd` command line."""
from __future__ import annotations

from typing import Any
import argparse
import json
import logging
import os
import sys
from pathlib import Path

from alprd import __version__
from alprd.config import DEFAULT_PATH, ConfigError, describe_keys, load
from alprd.console import print_read, startup_errors
from alprd.logs import setup_logging

log = logging.getLogger("alprd")


def _demo_main(a) -> int:
    from alprd.demo.command import main
    return main(a)


def _hq_main(a) -> int:
    from alprd.hq.command import main
    return main(a)


def _config_path(arg: str | None) -> Path | None:
    if arg:
        return Path(arg)
    env = os.environ.get("ALPRD_CONFIG")
    if env:
        return Path(env)
    return DEFAULT_PATH if DEFAULT_PATH.exists() else None


def cmd_config_check(a) -> int:
    path = _config_path(a.config)
    try:
        cfg = load(path)
    except ConfigError as exc:
        print(f"config: {exc}", file=sys.stderr)
        return 2
    print(f"config OK: {path or 'defaults'} ({len(cfg.capture.cameras)} camera(s), "
          f"uplink {'offline' if not cfg.uplink.broker else cfg.uplink.broker})")
    return 0


def cmd_config_firewall(a) -> int:
    from alprd.netpolicy import PolicyError, dropin
    try:
        print(dropin(load(_config_path(a.config)), Path(a.resolv_conf)), end="")
    except (ConfigError, PolicyError) as exc:
        print(f"config firewall: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_config_keys(a) -> int:
    print("\n".join(describe_keys()))
    return 0


def cmd_run(a) -> int:
    from alprd.daemon import Daemon
    try:
        cfg = load(_config_path(a.config))
    except ConfigError as exc:
        print(f"config: {exc}", file=sys.stderr)
        return 2
    setup_logging(cfg.logging.level, cfg.logging.levels)
    try:
        daemon = Daemon(cfg, on_read=print_read if a.print_reads else None)
    except startup_errors() as exc:
        print(f"alprd: {exc}", file=sys.stderr)
        return 2
    daemon.install_signal_handlers()
    daemon.run(until=daemon.all_sources_finished if a.exit_when_done else None,
               drain_s=a.drain_s if a.exit_when_done else 0.0)
    return 0


def cmd_recognize(a) -> int:
    from alprd.recognize.recognizer import Recognizer
    from alprd.recognize.runtime import ModelError
    from alprd.recognize.state_ocr import StateOcrMissing
    setup_logging("WARNING")
    try:
        from alprd.config import RecognizeConfig
        rec = Recognizer.from_config(RecognizeConfig(threads=a.threads))  # the daemon's defaults
        rec.state  # noqa: B018  the state reader is loaded now: a missing model says so once
    except (ModelError, StateOcrMissing) as exc:
        print(f"recognize: {exc}", file=sys.stderr)
        return 2
    status = 0
    for path in a.images:
        try:
            result = rec.recognize_file(Path(path))
        except ValueError as exc:
            print(f"recognize: {exc}", file=sys.stderr)
            status = 1
            continue
        if a.json:
            print(json.dumps(result), flush=True)
        else:
            texts = ", ".join(f"{p['text']} ({p['confidence']:.2f}, state {_state(p)})"
                              for p in result["plates"])
            print(f"{path}: {texts or 'no plate'}  [{result['ms']:.0f} ms]", flush=True)
    return status


def _state(plate: dict[str, Any]) -> str:
    """'NV 99%', or '?' where the state was not read sure enough."""
    if plate["state"] is None:
        return "?"
    return f"{plate['state']} {plate['state_confidence']:.0%}"


def cmd_selftest(a) -> int:
    from alprd import selftest
    from alprd.selftest.control import ask_daemon, socket_path
    setup_logging("ERROR")
    try:
        cfg = load(_config_path(a.config))
    except ConfigError as exc:
        print(f"config: {exc}", file=sys.stderr)
        return 2
    try:  # the running daemon holds the cameras and the GPS: it checks them itself
        out = None if a.direct else ask_daemon(socket_path(cfg), a.employee, a.ticket)
    except (OSError, ValueError) as exc:
        print(f"selftest: the running daemon did not answer ({exc}); checking directly",
              file=sys.stderr)
        out = None
    if out is not None and "error" not in out:
        results = [selftest.Result(**r) for r in out["results"]]
        out = {"results": out["results"], "ok": not out["failed"], "via": "daemon",
               "ticket": out.get("ticket")}
    else:
        results = selftest.run_all(cfg, a.min_free_mb)
        out = {"results": selftest.as_json(results), "via": "direct",
               "ok": not any(r.status == "fail" for r in results), "ticket": None}
        if a.ticket or (a.ticket_on_failure and not out["ok"]):
            out["ticket"] = _direct_ticket(cfg, results, a.employee)
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        print(selftest.table(results))
        t = out["ticket"]
        if t:
            print(f"\nTrouble ticket (Form 11.03.00) prepared: {t['print_view']}"
                  f"{' (not queued: storage failed)' if t.get('queued_for_hq') is False else ''}")
        print("\nRESULT: " + ("all checks passed" if out["ok"] else
                              "FAIL: see the lines marked FAIL"))
    return 0 if out["ok"] else 1


def _direct_ticket(cfg, results, employee: str) -> dict[str, Any]:
    """The ticket of a self-test run with no daemon: saved (0600), queued for HQ if the store
    opens (storage may be what is broken: the print view remains)."""
    from alprd.selftest import ticket
    t = ticket.make(cfg, results, employee)
    path = ticket.save(t, Path(cfg.store.path).parent / "tickets")
    out = {"id": t["id"], "print_view": str(path)}
    try:
        from alprd.store import Store
        from alprd.store.crypto import data_key_path, load_key
        store = Store(Path(cfg.store.path), load_key(data_key_path(cfg.store.key_file)))
        store.queue("ticket", t)
        store.close()
        out["queued_for_hq"] = True
    except Exception as exc:  # noqa: BLE001
        out["queued_for_hq"] = False
        out["why_not"] = str(exc)
    return out


def cmd_audit(a) -> int:
    from alprd.audit import AuditError, AuditLog, format_report
    from alprd.store import Store, StoreError
    from alprd.store.crypto import DataKeyError, data_key_path, load_key
    setup_logging("ERROR")
    try:
        cfg = load(_config_path(a.config))
        store = Store(Path(cfg.store.path), load_key(data_key_path(cfg.store.key_file)))
    except (ConfigError, DataKeyError, StoreError) as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 2
    audit = AuditLog(store, cfg.vehicle.unit_id)
    try:
        if a.action == "verify":
            try:
                v = audit.verify()
            except AuditError as exc:
                print(f"AUDIT CHAIN BROKEN: {exc}")
                store.report_breach(f"audit chain broken: {exc}")  # POL-14
                print("A breach report has been queued for HQ.")
                return 1
            print(f"audit chain intact: {v.records} record(s), seq {v.first_seq}..{v.last_seq}"
                  f", head {v.head_hash[:16]}")
            return 0
        try:
            rep = audit.report(a.since, a.until)
        except Exception as exc:  # noqa: BLE001  a sealed value failed: no half a report
            print(f"audit: cannot read the audit trail: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(rep, indent=1) if a.json else format_report(rep))
        return 0
    finally:
        store.close()


def cmd_compliance(a) -> int:
    from alprd import compliance
    repo = Path(a.repo)
    if not (repo / "tests").is_dir():
        print(f"compliance: no tests/ in {repo}: run it from a checkout of alprd (--repo)",
              file=sys.stderr)
        return 2
    text, ok = compliance.report(compliance.collect(repo))
    print(text)
    return 0 if ok else 1


def cmd_provision(a) -> int:
    from alprd.provision import provision, revoke
    if a.revoke:
        try:
            new = revoke(Path(a.dir), a.revoke)
        except (OSError, ValueError) as exc:
            print(f"provision: cannot revoke {a.revoke}: {exc}", file=sys.stderr)
            return 1
        print(f"revoked {len(new)} certificate(s) of {a.revoke}; {Path(a.dir) / 'ca.crl'} "
              f"written: restart the broker to enforce it")
        return 0 if new else 1
    made = provision(Path(a.dir), a.unit, tuple(a.hq_host or ("127.0.0.1", "localhost")),
                     tuple(a.page_host or ()))
    for name in made:
        print(f"made {Path(a.dir) / name}")
    print(f"provisioned {a.dir}: {len(made)} file(s) made, the rest already there")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alprd", description=(
        "Automated licence plate recognition for patrol vehicles. Reads plates from the "
        "car's cameras, tags them with GPS, checks the hotlist, alerts the officer, and "
        "uplinks to HQ."))
    p.add_argument("--version", action="version", version=f"alprd {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add_config(sp):
        sp.add_argument("-c", "--config", metavar="FILE", help=(
            f"TOML config (default: $ALPRD_CONFIG, else {DEFAULT_PATH} if present, else "
            "built-in defaults); ALPRD_<SECTION>__<KEY> variables override any key"))

    sp = sub.add_parser("run", help="run the daemon", description=(
        "Run the daemon: capture, recognise, match the hotlist, store and uplink, and serve "
        "the in-car page. Stops cleanly on SIGINT/SIGTERM."))
    add_config(sp)
    sp.add_argument("--print-reads", action="store_true", help="print each read as a line")
    sp.add_argument("--exit-when-done", action="store_true",
                    help="exit when every replayed file has ended (for tests and batch runs)")
    sp.add_argument("--drain-s", type=float, default=10.0, metavar="S",
                    help="with --exit-when-done: wait up to S seconds for HQ to acknowledge "
                         "the outbox (default 10)")
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("demo", help="run the daemon on the bundled demo", description=(
        "Run the daemon on the bundled demo clip, GPS track and hotlist, with a local "
        "mosquitto broker and the reference HQ endpoint. Prints each read and hit; serves "
        "the in-car page on http://127.0.0.1:8080/. Ctrl-C stops it."))
    sp.add_argument("--state-dir", metavar="DIR",
                    help="where the demo keeps its databases (default ~/.local/state/alprd/demo)")
    sp.add_argument("--once", action="store_true",
                    help="play the clip once, then stop (default: loop until Ctrl-C)")
    sp.set_defaults(func=_demo_main)

    sp = sub.add_parser("recognize", help="read plates in images", description=(
        "Read the plates in each image and print them, best first; with --json one JSON "
        "line per image: {image, plates: [{text, confidence, bbox, state, "
        "state_confidence}], ms, state_ms}. state is null where it was not read sure "
        "enough; state_confidence is how often a state so read was right."))
    sp.add_argument("images", nargs="+", metavar="IMAGE")
    sp.add_argument("--json", action="store_true", help="JSON lines output")
    sp.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    sp.set_defaults(func=cmd_recognize)

    sp = sub.add_parser("config", help="check or list configuration", description=(
        "'check' validates a config file (exit 2 and the key path and line on error); "
        "'keys' lists every key with its meaning."))
    csub = sp.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    cc = csub.add_parser("check", help="validate the configuration")
    add_config(cc)
    cc.set_defaults(func=cmd_config_check)
    cf = csub.add_parser("firewall", help="print the systemd drop-in that lets the service "
                         "reach HQ's broker and DNS only (POL-08)")
    add_config(cf)
    cf.add_argument("--resolv-conf", default="/etc/resolv.conf",
                    help="where the DNS servers are listed (default /etc/resolv.conf)")
    cf.set_defaults(func=cmd_config_firewall)
    ck = csub.add_parser("keys", help="list every key with its description")
    ck.set_defaults(func=cmd_config_keys)

    sp = sub.add_parser("selftest", help="check every component; prepare a trouble ticket",
                        description=(
        "Check cameras, GPS, clock, models, storage, keys and certificates, the uplink and "
        "the hotlist. Prints a table (or JSON) and exits 1 if anything failed. While the "
        "daemon runs, it is asked to run the checks (it holds the cameras and the GPS); "
        "otherwise the devices are opened here. A failure prepares the Motor Vehicle Trouble "
        "Ticket, Form 11.03.00 (with the daemon, always; alone, with --ticket-on-failure): a "
        "print view in the state folder, queued for fleet services at HQ."))
    add_config(sp)
    sp.add_argument("--json", action="store_true", help="JSON output")
    sp.add_argument("--ticket", action="store_true", help="prepare a ticket whatever the result")
    sp.add_argument("--ticket-on-failure", action="store_true",
                    help="prepare a ticket when a check fails")
    sp.add_argument("--employee", default="alprd self-test (automatic)",
                    help="reporting employee on the ticket")
    sp.add_argument("--min-free-mb", type=float, default=500.0,
                    help="free disk space below which storage fails (default 500)")
    sp.add_argument("--direct", action="store_true",
                    help="open the devices here even if the daemon runs (stop it first)")
    sp.set_defaults(func=cmd_selftest)

    sp = sub.add_parser("audit", help="verify the audit chain; print the audit report",
                        description=(
        "verify: check that no audit record was edited, deleted or reordered (exit 1, and a "
        "breach report for HQ, if one was). report: accesses by user, purpose, action and "
        "plate queried, for Audit Division (POL-18)."))
    sp.add_argument("action", choices=["verify", "report"])
    add_config(sp)
    sp.add_argument("--since", metavar="UTC", help="report from this UTC date/time (ISO)")
    sp.add_argument("--until", metavar="UTC", help="report up to this UTC date/time (ISO)")
    sp.add_argument("--json", action="store_true", help="report as JSON")
    sp.set_defaults(func=cmd_audit)

    sp = sub.add_parser("compliance", help="policy rows and the tests that prove them",
                        description=(
        "Run the policy tests (pytest marker 'policy') and list POL-01..POL-19 with the tests "
        "that cover each and their results. Exit 1 if a policy test fails."))
    sp.add_argument("--repo", default=".", help="a checkout of alprd (default: here)")
    sp.set_defaults(func=cmd_compliance)

    sp = sub.add_parser("provision", help="make keys and certificates", description=(
        "Make, in DIR, whatever is missing of: the AES-256 data key, a test CA, HQ's broker "
        "certificate, this vehicle's client certificate, the in-car page's HTTPS certificate, "
        "and HQ's signing key (hotlists, rosters, commands). "
        "Existing files are never overwritten; private keys are mode 0600."))
    sp.add_argument("--dir", default="/etc/alprd/keys", help="folder (default /etc/alprd/keys)")
    sp.add_argument("--unit", default="UNSET", help="this vehicle's unit id (certificate CN)")
    sp.add_argument("--revoke", metavar="UNIT", help=(
        "revoke every certificate this CA (in DIR) issued to UNIT, e.g. a stolen car, and "
        "write DIR/ca.crl for the broker's crlfile"))
    sp.add_argument("--hq-host", action="append", default=None,
                    help="host name or address of HQ's broker (repeatable; "
                         "default 127.0.0.1 and localhost)")
    sp.add_argument("--page-host", action="append", default=None,
                    help="address of the MDC interface the in-car page listens on, for its "
                         "HTTPS certificate (repeatable; loopback is always included)")
    sp.set_defaults(func=cmd_provision)

    sp = sub.add_parser("hq", help="run the reference HQ endpoint", description=(
        "The reference HQ endpoint: receives uplinked records over MQTT, validates and "
        "stores them (SQLite, or PostgreSQL for a fleet), acknowledges each by id, publishes "
        "the signed hotlist; `alprd hq status` shows each car's health "
        "(docs/protocol.md, docs/hq-operations.md)."))
    from alprd.hq.command import add_arguments
    add_arguments(sp)
    sp.set_defaults(func=_hq_main)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
