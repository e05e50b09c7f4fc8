"""The car's commands: `alprd config check|firewall|keys`, `run`, `recognize`, `selftest`,
`audit`, `compliance`, `provision` (alprd.cli parses their arguments)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alprd.config import DEFAULT_PATH, Config, ConfigError, describe_keys, load
from alprd.console import print_read, startup_errors
from alprd.logs import setup_logging

if TYPE_CHECKING:
    from alprd.selftest.checks import Result

log = logging.getLogger("alprd")


def _config_path(arg: str | None) -> Path | None:
    if arg:
        return Path(arg)
    env = os.environ.get("ALPRD_CONFIG")
    if env:
        return Path(env)
    return DEFAULT_PATH if DEFAULT_PATH.exists() else None


def cmd_config_check(a: argparse.Namespace) -> int:
    path = _config_path(a.config)
    try:
        cfg = load(path)
    except ConfigError as exc:
        print(f"config: {exc}", file=sys.stderr)
        return 2
    from alprd.config.files import missing_files

    missing, absent_devices = missing_files(cfg)
    for line in absent_devices:
        print(f"config: warning: {line}", file=sys.stderr)
    for line in missing:
        print(f"config: {line}", file=sys.stderr)
    if missing:
        print(
            f"config NOT OK: {path or 'defaults'}: {len(missing)} file(s) missing", file=sys.stderr
        )
        return 2
    print(
        f"config OK: {path or 'defaults'} ({len(cfg.capture.cameras)} camera(s), "
        f"uplink {'offline' if not cfg.uplink.broker else cfg.uplink.broker})"
    )
    return 0


def cmd_config_firewall(a: argparse.Namespace) -> int:
    from alprd.netpolicy import PolicyError, dropin

    try:
        print(dropin(load(_config_path(a.config)), Path(a.resolv_conf)), end="")
    except (ConfigError, PolicyError) as exc:
        print(f"config firewall: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_config_keys(a: argparse.Namespace) -> int:
    print("\n".join(describe_keys()))
    return 0


def cmd_run(a: argparse.Namespace) -> int:
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
    daemon.run(
        until=daemon.all_sources_finished if a.exit_when_done else None,
        drain_s=a.drain_s if a.exit_when_done else 0.0,
    )
    return 0


def cmd_recognize(a: argparse.Namespace) -> int:
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
            texts = ", ".join(
                f"{p['text']} ({p['confidence']:.2f}, state {_state(p)})" for p in result["plates"]
            )
            print(f"{path}: {texts or 'no plate'}  [{result['ms']:.0f} ms]", flush=True)
    return status


def _state(plate: dict[str, Any]) -> str:
    """'NV 99%', or '?' where the state was not read sure enough."""
    if plate["state"] is None:
        return "?"
    return f"{plate['state']} {plate['state_confidence']:.0%}"


def cmd_selftest(a: argparse.Namespace) -> int:
    from alprd import selftest
    from alprd.selftest.control import ask_daemon, socket_path

    setup_logging("ERROR")
    path = _config_path(a.config)
    try:
        cfg = load(path)
    except ConfigError as exc:
        print(f"config: {exc}", file=sys.stderr)
        return 2
    try:  # the running daemon holds the cameras and the GPS: it checks them itself
        out = None if a.direct else ask_daemon(socket_path(cfg), a.employee, a.ticket)
        if out is None and not a.direct:
            print(
                f"selftest: no running alprd answers at {socket_path(cfg)}: checking this "
                f"machine directly with {path or 'the built-in defaults'} (a daemon keeps its "
                "control socket beside store.path; for the demo's: ALPRD_STORE__PATH="
                "~/.local/state/alprd/demo/alprd.db alprd selftest)",
                file=sys.stderr,
            )
    except (OSError, ValueError) as exc:
        print(
            f"selftest: the running daemon did not answer ({exc}); checking directly",
            file=sys.stderr,
        )
        out = None
    if out is not None and "error" not in out:
        results = [selftest.Result(**r) for r in out["results"]]
        out = {
            "results": out["results"],
            "ok": not out["failed"],
            "via": "daemon",
            "ticket": out.get("ticket"),
        }
    else:
        results = selftest.run_all(cfg, a.min_free_mb)
        out = {
            "results": selftest.as_json(results),
            "via": "direct",
            "ok": not any(r.status == "fail" for r in results),
            "ticket": None,
        }
        if a.ticket or (a.ticket_on_failure and not out["ok"]):
            out["ticket"] = _direct_ticket(cfg, results, a.employee)
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        print(selftest.table(results))
        t = out["ticket"]
        if t:
            if t.get("already_filed"):
                print(
                    f"\nThe same failures were filed {t['filed_s_ago']} s ago: no second "
                    f"ticket. Trouble ticket (Form 11.03.00): {t['print_view']}"
                )
            else:
                print(
                    f"\nTrouble ticket (Form 11.03.00) prepared: {t['print_view']}"
                    f"{' (not queued: storage failed)' if t.get('queued_for_hq') is False else ''}"
                )
        print(
            "\nRESULT: " + ("all checks passed" if out["ok"] else "FAIL: see the lines marked FAIL")
        )
    return 0 if out["ok"] else 1


def _direct_ticket(cfg: Config, results: list[Result], employee: str) -> dict[str, Any]:
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


def cmd_audit(a: argparse.Namespace) -> int:
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
            print(
                f"audit chain intact: {v.records} record(s), seq {v.first_seq}..{v.last_seq}"
                f", head {v.head_hash[:16]}"
            )
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


def cmd_compliance(a: argparse.Namespace) -> int:
    from alprd import compliance

    repo = Path(a.repo)
    if not (repo / "tests").is_dir():
        print(
            f"compliance: no tests/ in {repo}: run it from a checkout of alprd (--repo)",
            file=sys.stderr,
        )
        return 2
    text, ok = compliance.report(compliance.collect(repo))
    print(text)
    return 0 if ok else 1


def cmd_provision(a: argparse.Namespace) -> int:
    from alprd.provision import provision, revoke

    if a.revoke:
        try:
            new = revoke(Path(a.dir), a.revoke)
        except (OSError, ValueError) as exc:
            print(f"provision: cannot revoke {a.revoke}: {exc}", file=sys.stderr)
            return 1
        print(
            f"revoked {len(new)} certificate(s) of {a.revoke}; {Path(a.dir) / 'ca.crl'} "
            f"written: restart the broker to enforce it"
        )
        return 0 if new else 1
    if a.issue:
        from alprd.provision import ProvisionError, issue_car

        if not a.out:
            print("provision: --issue needs --out CAR_DIR (the folder to copy to the car)")
            return 2
        try:
            made = issue_car(Path(a.dir), Path(a.out), a.issue, tuple(a.page_host or ()))
        except (OSError, ProvisionError) as exc:
            print(f"provision: cannot issue {a.issue}'s files: {exc}", file=sys.stderr)
            return 1
        print(
            f"issued {a.issue}: {', '.join(made) or 'nothing new'} in {a.out}; copy the folder "
            "to the car's /etc/alprd/keys (owner alprd, mode 0700)"
        )
        return 0
    made = provision(
        Path(a.dir),
        a.unit,
        tuple(a.hq_host or ("127.0.0.1", "localhost")),
        tuple(a.page_host or ()),
    )
    for name in made:
        print(f"made {Path(a.dir) / name}")
    print(f"provisioned {a.dir}: {len(made)} file(s) made, the rest already there")
    return 0
