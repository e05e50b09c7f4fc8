"""Fleet health at HQ: per car, when it was last heard from, its hotlist version and age, its
outbox depth, its last self-test, its open trouble tickets and its uplink lag; cars whose
list is stale, whose lag grows or that fell silent are flagged. Shown by `alprd hq status`
(a table, or --json) and on the HQ page (`alprd hq --http HOST:PORT`)."""

from __future__ import annotations

import argparse
import html
import json
import logging
import threading
from collections import defaultdict
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs

from alprd.clock import span
from alprd.hq import search as searching
from alprd.hq.access import AccessRefused
from alprd.hq.quality import quality
from alprd.hq.schema import CAR_PARTS, car_health, flags
from alprd.hq.search import FORM_STYLE
from alprd.protocol import retention

if TYPE_CHECKING:
    from alprd.hq.store import RecordStore

log = logging.getLogger(__name__)


def fleet(store: RecordStore, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each car's health as figures (JSON-ready), with its flags."""
    now = now or datetime.now(timezone.utc)
    misreads: defaultdict[str, list[str]] = defaultdict(
        list
    )  # the officers' verdicts: a camera misreading far more often
    for f in quality(store)["flagged"]:
        misreads[f["unit_id"]].append(f["flag"])
    last = store.last_hotlist()
    current = last[0] if last else None
    out = []
    for u in store.units():
        seen = retention.parse_utc(u["last_seen_utc"]) if u.get("last_seen_utc") else None
        since = (now - seen).total_seconds() if seen else None
        age = u.get("hotlist_age_s")
        out.append(
            {
                "unit_id": u["unit_id"],
                "last_seen_utc": u.get("last_seen_utc"),
                "last_seen_s": None if since is None else round(since, 1),
                "hotlist_version": u.get("hotlist_version"),
                "hotlist_current": current,
                # the list's age now: as the car reported it, plus the time since
                "hotlist_age_s": None if age is None or since is None else round(age + since, 1),
                "outbox_depth": u.get("outbox_depth"),
                "last_selftest_utc": u.get("last_selftest_utc"),
                "open_tickets": u.get("open_tickets") or 0,
                "uplink_lag_s": None
                if u.get("uplink_lag_s") is None
                else round(u["uplink_lag_s"], 1),
                "records": u.get("records") or 0,
                **car_health(u),
                "flags": flags(u, now, current) + misreads[u["unit_id"]],
            }
        )
    return out


def version_time(v: int | None) -> str:
    """A hotlist version (HQ's clock in seconds when it was published) as a UTC time."""
    if v is None:
        return "-"
    try:
        return datetime.fromtimestamp(v, timezone.utc).strftime("%Y-%m-%d %H:%MZ")
    except (OverflowError, OSError, ValueError):
        return str(v)


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        row["unit_id"],
        row.get("models") or "-",
        span(row["last_seen_s"]) + (" ago" if row["last_seen_s"] is not None else ""),
        version_time(row["hotlist_version"]),
        span(row["hotlist_age_s"]),
        "-" if row["outbox_depth"] is None else str(row["outbox_depth"]),
        (row["last_selftest_utc"] or "-")[:16],
        str(row["open_tickets"]),
        span(row["uplink_lag_s"]),
        ", ".join(row["flags"]) or "ok",
    ]


def table(rows: list[dict[str, Any]]) -> str:
    head = [
        "UNIT",
        "MODELS",
        "LAST SEEN",
        "HOTLIST OF",
        "LIST AGE",
        "OUTBOX",
        "LAST SELF-TEST",
        "TICKETS",
        "LAG",
        "FLAGS",
    ]
    cells = [head] + [_cells(r) for r in rows]
    width = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["  ".join(c[i].ljust(width[i]) for i in range(len(head))).rstrip() for c in cells]
    flagged = sum(1 for r in rows if r["flags"])
    return "\n".join(lines + [f"{len(rows)} cars, {flagged} flagged"])


STYLE = (
    "body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f4f5f7}"
    "header{display:flex;gap:1.5em;align-items:baseline;padding:.6em 1.2em;background:#102a43;"
    "color:#fff}header h1{font-size:20px;margin:0}header a{color:#cde}.broker.ok{color:#9fe6a0}"
    ".broker.down{color:#fff;background:#c62828;padding:.1em .6em;border-radius:4px;"
    "font-weight:bold}main{padding:1em 1.2em}table{border-collapse:collapse;width:100%;"
    "background:#fff;box-shadow:0 1px 3px #0002}th{background:#e4e7eb;font-size:13px;"
    "text-transform:uppercase;letter-spacing:.04em}td,th{padding:.45em .7em;"
    "border-bottom:1px solid #dde1e6;text-align:left;vertical-align:top}"
    "td:not(:last-child){white-space:nowrap}"
    "tr.flag td{background:#fdecea}tr.flag td:first-child{border-left:5px solid #c62828}"
    ".chip{display:inline-block;margin:0 .25em .2em 0;padding:0 .45em;border-radius:3px;"
    "font-size:12px;font-weight:bold}.chip.ok{background:#d7f2dc;color:#1b5e20}"
    ".chip.warn{background:#ffe9a8;color:#5c4400}.chip.fail{background:#c62828;color:#fff}"
    ".chip.none{background:#e4e7eb;color:#555}.flags{color:#b71c1c;font-weight:bold}"
    ".problems{font-size:13px;color:#444}.sum{margin:0 0 .8em}"
)


def _chips(row: dict[str, Any]) -> str:
    health = row.get("health") or {}
    return "".join(
        f"<span class='chip {html.escape(health.get(p, 'none'))}'>{p.upper()}</span>"
        for p in CAR_PARTS
    )


def page(
    rows: list[dict[str, Any]], broker: dict[str, Any] | None = None, now: datetime | None = None
) -> str:
    """The HQ fleet page: flagged cars first, each car's parts as its officer's strip shows
    them, the broker's state at the top; refreshed every 30 s."""
    rows = sorted(rows, key=lambda r: (not r["flags"], r["unit_id"]))
    cells = (
        "<td>{}</td>" * 9
        + "<td>{chips}<div class='flags'>{flags}</div><div class='problems'>{problems}</div></td>"
    )
    body = "".join(
        "<tr class='{}'>{}</tr>".format(
            "flag" if r["flags"] else "",
            cells.format(
                *(html.escape(c) for c in _cells(r)[:9]),
                chips=_chips(r),
                flags=html.escape(", ".join(r["flags"]) or "ok"),
                problems="<br>".join(html.escape(p) for p in r.get("problems") or []),
            ),
        )
        for r in rows
    )
    flagged = sum(1 for r in rows if r["flags"])
    return shell(
        "fleet",
        f"<p class='sum'><b>{len(rows)} cars, {flagged} flagged</b></p>"
        "<table><tr><th>Unit</th><th>Models</th><th>Last seen</th><th>Hotlist of</th>"
        "<th>List age</th><th>Outbox</th><th>Last self-test</th><th>Tickets</th><th>Uplink lag</th>"
        f"<th>Car health &amp; flags</th></tr>{body}</table>",
        broker,
        now,
        refresh=True,
    )


def shell(
    title: str,
    inner: str,
    broker: dict[str, Any] | None,
    now: datetime | None = None,
    refresh: bool = False,
) -> str:
    """An HQ page: the header (the broker's state, links to the fleet and search), inner."""
    link = ""
    if broker is not None:
        up = broker["connected"]
        link = (
            f"<span class='broker {'ok' if up else 'down'}'>broker {html.escape(broker['broker'])}"
            f": {'connected' if up else 'NOT CONNECTED'} for {span(broker['for_s'])}</span>"
        )
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%SZ")
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        + ("<meta http-equiv='refresh' content='30'>" if refresh else "")
        + f"<title>alprd HQ: {title}</title><style>{STYLE}{FORM_STYLE}</style><header>"
        f"<h1>alprd HQ &middot; {title}</h1><a href='/'>Fleet</a><a href='/search'>Search</a>"
        f"{link}<span>as of {stamp}</span></header><main>{inner}</main></html>"
    )


def serve_page(
    store: RecordStore,
    host: str,
    port: int,
    broker: Callable[[], dict[str, Any]] | None = None,
) -> ThreadingHTTPServer:
    """The fleet page at / and its figures at /fleet.json, in a thread. Bind it to HQ's
    management network only: it has no sign-in of its own."""

    def state() -> dict[str, Any] | None:
        return broker() if broker else None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/search":
                return self._send(shell("search", searching.screen({}, None), state()))
            try:
                rows = fleet(store)
            except Exception as exc:  # noqa: BLE001  the page says so; HQ goes on
                log.error("hq: fleet page: %s", exc)
                self.send_error(503, "database unavailable")
                return
            if self.path == "/fleet.json":
                self._send(json.dumps(rows), "application/json")
            elif self.path == "/":
                self._send(page(rows, state()))
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            """A search: badge and PIN with each one (no session), purpose, plate."""
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != "/search" or not 0 < length <= 4096:
                self.send_error(404 if self.path != "/search" else 400)
                return
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            rows, said = None, ""
            try:
                rows = searching.search(store, form.get("user", ""), form.pop("pin", ""), form)
            except AccessRefused as exc:
                said = str(exc)
            except Exception as exc:  # noqa: BLE001  the page says so; HQ goes on
                log.error("hq: search screen: %s", exc)
                said = "HQ's database is unavailable: nothing searched"
            self._send(shell("search", searching.screen(form, rows, said), state()))

        def _send(self, text: str, ctype: str = "text/html; charset=utf-8") -> None:
            data = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="hq-page", daemon=True).start()
    return server


def status_main(a: argparse.Namespace) -> int:

    from alprd.hq.store import open_for

    store = open_for("status", a.db, a.index_key)
    if store is None:
        return 1
    rows = fleet(store)
    store.close()
    print(json.dumps(rows, indent=1) if a.json else table(rows))
    return 0
