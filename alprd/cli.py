"""The `alprd` command line: its parser, and what each command runs (the car's commands:
alprd.commands; HQ's: alprd.hq.command; the demo: alprd.demo.command)."""

from __future__ import annotations

import argparse

from alprd import __version__, commands
from alprd.config import DEFAULT_PATH


def _demo_main(a: argparse.Namespace) -> int:
    from alprd.demo.command import main

    return main(a)


def _hq_main(a: argparse.Namespace) -> int:
    from alprd.hq.command import main

    return main(a)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alprd",
        description=(
            "Automated licence plate recognition for patrol vehicles. Reads plates from the "
            "car's cameras, tags them with GPS, checks the hotlist, alerts the officer, and "
            "uplinks to HQ."
        ),
    )
    p.add_argument("--version", action="version", version=f"alprd {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add_config(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "-c",
            "--config",
            metavar="FILE",
            help=(
                f"TOML config (default: $ALPRD_CONFIG, else {DEFAULT_PATH} if present, else "
                "built-in defaults); ALPRD_<SECTION>__<KEY> variables override any key"
            ),
        )

    sp = sub.add_parser(
        "run",
        help="run the daemon",
        description=(
            "Run the daemon: capture, recognise, match the hotlist, store and uplink, and serve "
            "the in-car page. Stops cleanly on SIGINT/SIGTERM."
        ),
    )
    add_config(sp)
    sp.add_argument("--print-reads", action="store_true", help="print each read as a line")
    sp.add_argument(
        "--exit-when-done",
        action="store_true",
        help="exit when every replayed file has ended (for tests and batch runs)",
    )
    sp.add_argument(
        "--drain-s",
        type=float,
        default=10.0,
        metavar="S",
        help="with --exit-when-done: wait up to S seconds for HQ to acknowledge "
        "the outbox (default 10)",
    )
    sp.set_defaults(func=commands.cmd_run)

    sp = sub.add_parser(
        "demo",
        help="run the daemon on the bundled demo",
        description=(
            "Run the daemon on the bundled demo clip, GPS track and hotlist, with a local "
            "mosquitto broker and the reference HQ endpoint. Prints each read and hit; serves "
            "the in-car page on http://127.0.0.1:8080/ and HQ's fleet page on "
            "http://127.0.0.1:8081/. Each run starts fresh (the last run's reads, alerts and "
            "HQ records are discarded; the demo's keys are kept). Ctrl-C stops it."
        ),
    )
    sp.add_argument(
        "--keep-state",
        action="store_true",
        help="keep the last run's reads, open alerts and HQ records (default: start fresh)",
    )
    sp.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where the demo keeps its databases (default ~/.local/state/alprd/demo)",
    )
    sp.add_argument(
        "--once",
        action="store_true",
        help="play the clip once, then stop (default: loop until Ctrl-C)",
    )
    sp.set_defaults(func=_demo_main)

    sp = sub.add_parser(
        "recognize",
        help="read plates in images",
        description=(
            "Read the plates in each image and print them, best first; with --json one JSON "
            "line per image: {image, plates: [{text, confidence, bbox, state, "
            "state_confidence}], ms, state_ms}. state is null where it was not read sure "
            "enough; state_confidence is how often a state so read was right."
        ),
    )
    sp.add_argument("images", nargs="+", metavar="IMAGE")
    sp.add_argument("--json", action="store_true", help="JSON lines output")
    sp.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    sp.set_defaults(func=commands.cmd_recognize)

    sp = sub.add_parser(
        "config",
        help="check or list configuration",
        description=(
            "'check' validates a config file (exit 2 and the key path and line on error); "
            "'keys' lists every key with its meaning."
        ),
    )
    csub = sp.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    cc = csub.add_parser("check", help="validate the configuration")
    add_config(cc)
    cc.set_defaults(func=commands.cmd_config_check)
    cf = csub.add_parser(
        "firewall",
        help="print the systemd drop-in that lets the service "
        "reach HQ's broker and DNS only (POL-08)",
    )
    add_config(cf)
    cf.add_argument(
        "--resolv-conf",
        default="/etc/resolv.conf",
        help="where the DNS servers are listed (default /etc/resolv.conf)",
    )
    cf.set_defaults(func=commands.cmd_config_firewall)
    ck = csub.add_parser("keys", help="list every key with its description")
    ck.set_defaults(func=commands.cmd_config_keys)

    sp = sub.add_parser(
        "selftest",
        help="check every component; prepare a trouble ticket",
        description=(
            "Check cameras, GPS, clock, models, storage, keys and certificates, the uplink and "
            "the hotlist. Prints a table (or JSON) and exits 1 if anything failed. While the "
            "daemon runs, it is asked to run the checks (it holds the cameras and the GPS); "
            "otherwise the devices are opened here. A failure prepares the Motor Vehicle Trouble "
            "Ticket, Form 11.03.00 (with the daemon, always; alone, with --ticket-on-failure): a "
            "print view in the state folder, queued for fleet services at HQ."
        ),
    )
    add_config(sp)
    sp.add_argument("--json", action="store_true", help="JSON output")
    sp.add_argument("--ticket", action="store_true", help="prepare a ticket whatever the result")
    sp.add_argument(
        "--ticket-on-failure", action="store_true", help="prepare a ticket when a check fails"
    )
    sp.add_argument(
        "--employee", default="alprd self-test (automatic)", help="reporting employee on the ticket"
    )
    sp.add_argument(
        "--min-free-mb",
        type=float,
        default=500.0,
        help="free disk space below which storage fails (default 500)",
    )
    sp.add_argument(
        "--direct",
        action="store_true",
        help="open the devices here even if the daemon runs (stop it first)",
    )
    sp.set_defaults(func=commands.cmd_selftest)

    sp = sub.add_parser(
        "audit",
        help="verify the audit chain; print the audit report",
        description=(
            "verify: check that no audit record was edited, deleted or reordered (exit 1, and a "
            "breach report for HQ, if one was). report: accesses by user, purpose, action and "
            "plate queried, for Audit Division (POL-18)."
        ),
    )
    sp.add_argument("action", choices=["verify", "report"])
    add_config(sp)
    sp.add_argument("--since", metavar="UTC", help="report from this UTC date/time (ISO)")
    sp.add_argument("--until", metavar="UTC", help="report up to this UTC date/time (ISO)")
    sp.add_argument("--json", action="store_true", help="report as JSON")
    sp.set_defaults(func=commands.cmd_audit)

    sp = sub.add_parser(
        "compliance",
        help="policy rows and the tests that prove them",
        description=(
            "Run the policy tests (pytest marker 'policy') and list POL-01..POL-19 with the tests "
            "that cover each and their results. Exit 1 if a policy test fails."
        ),
    )
    sp.add_argument("--repo", default=".", help="a checkout of alprd (default: here)")
    sp.set_defaults(func=commands.cmd_compliance)

    sp = sub.add_parser(
        "provision",
        help="make keys and certificates",
        description=(
            "Make, in DIR, whatever is missing of: the AES-256 data key, a test CA, HQ's broker "
            "certificate, this vehicle's client certificate, the in-car page's HTTPS certificate, "
            "and HQ's signing key (hotlists, rosters, commands). "
            "Existing files are never overwritten; private keys are mode 0600."
        ),
    )
    sp.add_argument("--dir", default="/etc/alprd/keys", help="folder (default /etc/alprd/keys)")
    sp.add_argument("--unit", default="UNSET", help="this vehicle's unit id (certificate CN)")
    sp.add_argument(
        "--revoke",
        metavar="UNIT",
        help=(
            "revoke every certificate this CA (in DIR) issued to UNIT, e.g. a stolen car, and "
            "write DIR/ca.crl for the broker's crlfile"
        ),
    )
    sp.add_argument(
        "--issue",
        metavar="UNIT",
        help=(
            "at the depot: issue car UNIT's own files from the CA in DIR into --out (its "
            "certificate and key, the in-car page's, a new data key, the CA certificate and "
            "HQ's public signing key); the CA's and HQ's private keys never leave DIR"
        ),
    )
    sp.add_argument("--out", metavar="CAR_DIR", help="with --issue: where the car's files go")
    sp.add_argument(
        "--hq-host",
        action="append",
        default=None,
        help="host name or address of HQ's broker (repeatable; default 127.0.0.1 and localhost)",
    )
    sp.add_argument(
        "--page-host",
        action="append",
        default=None,
        help="address of the MDC interface the in-car page listens on, for its "
        "HTTPS certificate (repeatable; loopback is always included)",
    )
    sp.set_defaults(func=commands.cmd_provision)

    sp = sub.add_parser(
        "hq",
        help="run the reference HQ endpoint",
        description=(
            "The reference HQ endpoint: receives uplinked records over MQTT, validates and "
            "stores them (SQLite, or PostgreSQL for a fleet), acknowledges each by id, publishes "
            "the signed hotlist; `alprd hq status` shows each car's health "
            "(docs/protocol.md, docs/hq-operations.md)."
        ),
    )
    from alprd.hq.args import add_arguments

    add_arguments(sp)
    sp.set_defaults(func=_hq_main)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
