"""`alprd hq`'s arguments (alprd.hq.command runs them)."""

from __future__ import annotations

import os
from typing import Any

from alprd.hq.access import DELETED_SEARCH_GROUNDS
from alprd.protocol import PURPOSES


def add_arguments(sp: Any) -> None:  # argparse's subparsers (its class is private)
    sp.add_argument(
        "action",
        nargs="?",
        choices=(
            "serve",
            "status",
            "quality",
            "qa-export",
            "models",
            "search",
            "broker-config",
            "rotate-body-key",
        ),
        default="serve",
        help="serve (default): run HQ; status: each car's health; quality: field accuracy "
        "from the officers' verdicts; search: reads of a plate (badge and PIN of HQ's roster, "
        "a purpose; logged); qa-export: the QA crop set (administrators, a purpose; logged); "
        "models add|canary|promote|rollback: model bundles to the fleet, staged; "
        "broker-config: write mosquitto's fleet listener and ACL; "
        "rotate-body-key: seal every record body under a new key",
    )
    sp.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="broker URL")
    sp.add_argument(
        "--db", default="hq.db", help="HQ's database: a SQLite file, or postgresql://USER@HOST/DB"
    )
    sp.add_argument(
        "--body-keys",
        metavar="FILE",
        help=(
            "the key ring that seals record bodies at rest (made on first use; default "
            "DB.body-keys for SQLite, hq-body.keys for PostgreSQL): keep it apart from the "
            "database's backups; rotate-body-key replaces its key"
        ),
    )
    sp.add_argument(
        "--index-key",
        metavar="FILE",
        help=(
            "the plate index key (32 bytes, made on first use; default DB.index-key for SQLite, "
            "hq-index.key for PostgreSQL): keep it with the backups"
        ),
    )
    sp.add_argument("--topic-prefix", default="alprd/v1")
    sp.add_argument(
        "--role",
        choices=("leader", "ingest"),
        default="leader",
        help="leader (default): publishing, retention, the page; ingest: one "
        "ingest worker on the shared subscription",
    )
    sp.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="run N ingest workers (child processes) on a shared subscription",
    )
    sp.add_argument(
        "--client-id", default=f"alprd-hq-{os.getpid()}", help="MQTT client id (unique per process)"
    )
    sp.add_argument("--tls-ca", metavar="FILE", help="CA certificate (mqtts://)")
    sp.add_argument("--tls-cert", metavar="FILE", help="HQ's client certificate (mqtts://)")
    sp.add_argument("--tls-key", metavar="FILE", help="HQ's client key (mqtts://)")
    sp.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve the fleet page (and /fleet.json) here, e.g. 127.0.0.1:8090",
    )
    sp.add_argument(
        "--json", action="store_true", help="status, quality, search: JSON instead of a table"
    )
    sp.add_argument("--out", default=".", help="broker-config, qa-export: where to write the files")
    sp.add_argument(
        "--listen", default="0.0.0.0:8883", help="broker-config: the listener's address and port"
    )
    sp.add_argument(
        "--cars",
        metavar="FILE",
        help=(
            "broker-config: the fleet's unit ids (certificate CNs), one a line; a car added "
            "later needs broker-config again and a broker restart"
        ),
    )
    sp.add_argument(
        "--crl",
        metavar="FILE",
        help="broker-config: the CA's revocation list (alprd provision --revoke)",
    )
    sp.add_argument(
        "--hotlist",
        metavar="FILE",
        help=(
            "publish this hotlist (signed), and again whenever the file changes: as a delta "
            "against the last one, so a want removed withdraws the open alerts"
        ),
    )
    sp.add_argument(
        "--hotlist-format",
        choices=("csv", "ncic", "clew"),
        default="csv",
        help="csv: alprd's own (plate,state,list_type,reason,priority,case_number);"
        " ncic: an NCIC-style extract; clew: a CLEW-style CSV",
    )
    sp.add_argument(
        "--signing-key",
        metavar="FILE",
        help=(
            "HQ's Ed25519 signing key (PEM; made on first use, its public half written to "
            "FILE.pub for the vehicles' hotlist.public_key)"
        ),
    )
    search = sp.add_argument_group("search (POL-02, POL-10, POL-17: every search is logged)")
    search.add_argument("--user", metavar="BADGE", help="your badge on HQ's roster")
    search.add_argument("--purpose", choices=tuple(PURPOSES), help="one of the six purposes")
    search.add_argument("--plate", help="the plate, letters and digits")
    search.add_argument("--state", help="only reads of this state (or whose state was not read)")
    search.add_argument(
        "--include-deleted",
        action="store_true",
        help="administrators: logically deleted reads too (needs --ground and --request-ref)",
    )
    search.add_argument("--ground", choices=tuple(DELETED_SEARCH_GROUNDS), help="POL-10 ground")
    search.add_argument("--request-ref", metavar="REF", help="the approved Form 15.02.00 ref.")
    search.add_argument(
        "--pin-stdin", action="store_true", help="read the PIN from stdin's first line"
    )
    models = sp.add_argument_group("models (#37: bundles signed with --signing-key, staged)")
    models.add_argument(
        "what", nargs="?", choices=("add", "canary", "promote", "rollback"), help="models: step"
    )
    models.add_argument("--bundles", default="hq-bundles", help="where HQ keeps its bundles")
    models.add_argument("--models-dir", metavar="DIR", help="add: the model files to bundle")
    models.add_argument("--version", metavar="NAME", help="the bundle's version name")
    models.add_argument("--units", metavar="A,B", help="canary: the group; rollback: the cars")
    models.add_argument(
        "--hold-hours", type=float, default=24.0, help="promote: the canaries' time first"
    )
