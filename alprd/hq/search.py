"""Searching ALPR data at HQ, as on the car (POL-02, POL-06, POL-10, POL-17): the searcher signs
in with the badge and PIN of the roster HQ last published (the role is the roster's, not the
searcher's word), gives one of the six purposes, and every search, allowed or refused, is in
HQ's access log. `alprd hq search` on HQ's console; the fleet page's search screen
(`alprd hq --http`) asks for the badge and PIN with every search and keeps no session.
"""

from __future__ import annotations

import argparse
import getpass
import html
import json
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from alprd.hq.access import DELETED_SEARCH_GROUNDS, AccessRefused
from alprd.protocol import PURPOSES

if TYPE_CHECKING:
    from alprd.hq.store import RecordStore

_HASHER = PasswordHasher()
_DECOY = _HASHER.hash("not a pin")  # an unknown badge costs an argon2 check too
MAX_FAILURES = 5  # CJIS AC-7, as on the car: five refused sign-ins ...
LOCKOUT_S = 15 * 60  # ... within 15 minutes lock the badge (counted from the access log)
SHOWN = ("utc", "text", "state", "unit_id", "camera_id", "lat", "lon", "confidence")


def operator(
    store: RecordStore, badge: str, pin: str, now: datetime | None = None
) -> dict[str, Any]:
    """The roster's entry for this badge and PIN. AccessRefused, written to the access log,
    when HQ has no roster, the badge is locked (MAX_FAILURES refused sign-ins within
    LOCKOUT_S: the count is the access log's, so it holds across `alprd hq search` runs and
    the page), the PIN is wrong or the account is not active or trained."""
    now = now or datetime.now(timezone.utc)
    badge = badge.strip()[:32]

    def refuse(why: str) -> AccessRefused:
        store.log_sign_in_refused(badge, why, now)
        return AccessRefused(why)

    if store.sign_ins_refused_since(badge, now - timedelta(seconds=LOCKOUT_S)) >= MAX_FAILURES:
        raise refuse(
            f"account {badge} is locked after {MAX_FAILURES} refused sign-ins: try again in "
            f"{LOCKOUT_S // 60} min or call the ALPR system administrator"
        )
    roster = store.last_roster()
    if roster is None:
        raise refuse("HQ has published no roster yet: nobody can sign in to search")
    user = next((u for u in roster[1] if u.get("badge") == badge), None)
    try:
        _HASHER.verify(user["pin_hash"] if user else _DECOY, pin)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise refuse("badge or PIN not recognised")
    if user.get("status") != "active":
        raise refuse(f"account {badge} is {user.get('status')}: no search")
    if not user.get("trained_utc"):
        raise refuse(f"account {badge} has no ALPR training recorded (POL-07)")
    return user


def search(store: RecordStore, badge: str, pin: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Sign in, then search (the store checks the role and purpose and logs the search)."""
    user = operator(store, badge, pin)
    return store.search(
        badge,
        str(user["role"]),
        str(query.get("purpose") or ""),
        str(query.get("plate") or "").strip().upper().replace(" ", ""),
        include_deleted=bool(query.get("include_deleted")),
        ground=query.get("ground") or None,
        request_ref=query.get("request_ref") or None,
        state=str(query["state"]).upper() if query.get("state") else None,
    )


def table(rows: list[dict[str, Any]]) -> str:
    cells = [[c.upper() for c in SHOWN]] + [
        ["-" if r.get(c) is None else str(r[c]) for c in SHOWN] for r in rows
    ]
    width = [max(len(row[i]) for row in cells) for i in range(len(SHOWN))]
    lines = ["  ".join(row[i].ljust(width[i]) for i in range(len(SHOWN))).rstrip() for row in cells]
    return "\n".join(lines + [f"{len(rows)} read(s); this search is in HQ's access log"])


def read_pin(a: argparse.Namespace) -> str:
    """The searcher's PIN: from the terminal, or stdin's first line with --pin-stdin."""
    return sys.stdin.readline().strip() if a.pin_stdin else getpass.getpass(f"PIN for {a.user}: ")


def search_main(a: argparse.Namespace) -> int:
    """`alprd hq search --user BADGE --purpose P --plate X`: the PIN from the terminal (or one
    line on stdin with --pin-stdin, for scripts)."""

    from alprd.hq.store import open_for

    if not (a.user and a.plate and a.purpose):
        print("hq search: give --user BADGE, --purpose and --plate", file=sys.stderr)
        print(f"purposes: {', '.join(PURPOSES)}", file=sys.stderr)
        return 2
    pin = read_pin(a)
    store = open_for("search", a.db, a.index_key)
    if store is None:
        return 1
    query = {
        "purpose": a.purpose,
        "plate": a.plate,
        "state": a.state,
        "include_deleted": a.include_deleted,
        "ground": a.ground,
        "request_ref": a.request_ref,
    }
    try:
        rows = search(store, a.user, pin, query)
    except AccessRefused as exc:
        print(f"hq search: refused: {exc}", file=sys.stderr)
        return 3
    finally:
        store.close()
    print(json.dumps(rows, indent=1) if a.json else table(rows))
    return 0


# -- the fleet page's search screen ----------------------------------------------------------
FORM_STYLE = (
    "form{display:flex;flex-wrap:wrap;gap:.6em 1em;align-items:end;background:#fff;padding:1em;"
    "box-shadow:0 1px 3px #0002;margin-bottom:1em}label{display:flex;flex-direction:column;"
    "font-size:13px;color:#444}input,select,button{font:inherit;padding:.35em .5em}"
    "button{background:#102a43;color:#fff;border:0;border-radius:4px;padding:.5em 1.2em}"
    ".refused{background:#c62828;color:#fff;padding:.5em 1em;font-weight:bold}"
)


def screen(query: dict[str, Any], rows: list[dict[str, Any]] | None, said: str = "") -> str:
    """The search form, and the result of the search just made (rows) or why it was refused."""
    e = html.escape
    q = {k: str(query.get(k) or "") for k in ("user", "purpose", "plate", "state")}
    options = "".join(
        f"<option value='{e(k)}'{' selected' if k == q['purpose'] else ''}>{e(v)}</option>"
        for k, v in PURPOSES.items()
    )
    grounds = "".join(
        f"<option value='{e(k)}'>{e(v)}</option>" for k, v in DELETED_SEARCH_GROUNDS.items()
    )
    form = (
        "<form method='post' action='/search' autocomplete='off'>"
        f"<label>Badge<input name='user' value='{e(q['user'])}' required></label>"
        "<label>PIN<input name='pin' type='password' required></label>"
        "<label>Purpose<select name='purpose' required><option value=''>choose…</option>"
        f"{options}</select></label>"
        f"<label>Plate<input name='plate' value='{e(q['plate'])}' maxlength='8' required></label>"
        f"<label>State<input name='state' value='{e(q['state'])}' maxlength='2' size='3'></label>"
        "<label>Logically deleted (administrators)<select name='ground'><option value=''>no"
        f"</option>{grounds}</select></label>"
        "<label>Form 15.02.00 ref.<input name='request_ref'></label>"
        "<button type='submit'>Search</button></form>"
    )
    if said:
        result = f"<p class='refused'>Refused: {e(said)}</p>"
    elif rows is None:
        result = "<p>Every search, allowed or refused, is written to HQ's access log.</p>"
    else:
        head = "".join(f"<th>{e(c)}</th>" for c in SHOWN)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{e('-' if r.get(c) is None else str(r[c]))}</td>" for c in SHOWN)
            + "</tr>"
            for r in rows
        )
        result = (
            f"<p><b>{len(rows)} read(s)</b>; this search is in HQ's access log.</p>"
            f"<table><tr>{head}</tr>{body}</table>"
        )
    return form + result
