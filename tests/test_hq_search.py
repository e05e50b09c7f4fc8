"""#36 finding 6: HQ had no search screen or command, only a Python API. `alprd hq search` and
the fleet page's search screen sign the searcher in against the roster HQ published (the role
is the roster's), need a purpose, and log every search, allowed or refused (POL-02, POL-06,
POL-17), on both back ends."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from alprd.demo.broker import free_port
from alprd.hq import open_store
from alprd.protocol import read_body, roster_user
from tests.helpers import make_read

USERS = [
    roster_user("1001", "Ofc. Able", "patrol_officer", "1234", "2026-01-01"),
    roster_user("2002", "Det. Baker", "data_user", "2345", "2026-01-01"),
    roster_user("5005", "Ofc. Gone", "data_user", "5678", "2024-01-01", status="deactivated"),
    roster_user("6006", "Det. New", "data_user", "6789", None),
]


def stamp(hours_ago: float) -> str:
    t = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture
def hq(hq_db):
    store = open_store(hq_db)
    for i, (text, state) in enumerate((("7ABC123", "CA"), ("7ABC123", "NV"), ("4DEF567", "CA"))):
        r = make_read(text, unit="CAR-1", utc=stamp(i + 1), state=state, state_confidence=0.9)
        store.add("CAR-1", [{"id": r.id, "kind": "read", "body": read_body(r)}])
    store.save_roster(1, USERS)
    yield hq_db, store
    store.close()


def cli(monkeypatch, db, *args, pin="2345"):
    from alprd.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO(pin + "\n"))
    return main(["hq", "search", "--db", str(db), "--pin-stdin", *args])


@pytest.mark.policy("POL-02")
@pytest.mark.policy("POL-17")
def test_hq_search_signs_in_with_the_roster_needs_a_purpose_and_logs_each_search(
    hq, monkeypatch, capsys
):
    db, store = hq
    base = ["--user", "2002", "--plate", "7abc123"]
    assert cli(monkeypatch, db, *base, "--purpose", "criminal") == 0
    out = capsys.readouterr().out
    assert out.count("7ABC123") == 2 and "2 read(s); this search is in HQ's access log" in out
    assert cli(monkeypatch, db, *base, "--purpose", "criminal", "--state", "NV", "--json") == 0
    assert '"state": "NV"' in capsys.readouterr().out
    refusals = [
        (["--user", "2002"], "0000", "badge or PIN not recognised"),
        (["--user", "9999"], "2345", "badge or PIN not recognised"),
        (["--user", "1001"], "1234", "role 'patrol_officer' may not search"),  # the roster's
        (["--user", "5005"], "5678", "is deactivated"),
        (["--user", "6006"], "6789", "no ALPR training"),
    ]
    for who, pin, words in refusals:
        rc = cli(monkeypatch, db, *who, "--plate", "7ABC123", "--purpose", "criminal", pin=pin)
        assert rc == 3 and words in capsys.readouterr().err, who
    assert cli(monkeypatch, db, *base) == 2  # no purpose: not even asked for the PIN
    log = store.access_log()
    assert [(e["username"], e["action"], e["refused"]) for e in log] == [
        ("2002", "search", None),
        ("2002", "search", None),
        ("2002", "sign_in", "badge or PIN not recognised"),
        ("9999", "sign_in", "badge or PIN not recognised"),
        ("1001", "search", "role 'patrol_officer' may not search ALPR data"),
        ("5005", "sign_in", "account 5005 is deactivated: no search"),
        ("6006", "sign_in", "account 6006 has no ALPR training recorded (POL-07)"),
    ]
    assert json.loads(log[0]["query"]) == {"plate": "7ABC123"} and log[1]["result_count"] == 1
    assert log[4]["role"] == "patrol_officer" and log[0]["purpose"] == "criminal"


def test_five_refused_sign_ins_lock_the_badge_across_runs(hq):
    """CJIS AC-7 at HQ, as on the car: the count is the access log's, so a locked badge stays
    locked across `alprd hq search` runs and the page; it opens again after 15 minutes."""
    from alprd.hq.access import AccessRefused
    from alprd.hq.search import LOCKOUT_S, operator

    _, store = hq
    t = datetime.now(timezone.utc)
    for i in range(5):
        with pytest.raises(AccessRefused, match="not recognised"):
            operator(store, "2002", "0000", now=t + timedelta(seconds=i))
    with pytest.raises(AccessRefused, match="is locked after 5 refused sign-ins"):
        operator(store, "2002", "2345", now=t + timedelta(seconds=10))  # even the right PIN
    assert operator(store, "1001", "1234", now=t + timedelta(seconds=10))  # another badge: open
    assert operator(store, "2002", "2345", now=t + timedelta(seconds=LOCKOUT_S + 11))["role"]


def test_the_fleet_page_has_a_search_screen_that_asks_for_the_pin_each_time(hq):
    from alprd.hq.fleet import serve_page

    _, store = hq
    port = free_port()
    page = serve_page(store, "127.0.0.1", port)
    url = f"http://127.0.0.1:{port}/search"

    def post(**form) -> str:
        data = urllib.parse.urlencode(form).encode()
        return urllib.request.urlopen(url, data=data, timeout=10).read().decode()

    try:
        form = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "name='pin'" in form and "Criminal investigation" in form
        shown = post(user="2002", pin="2345", purpose="criminal", plate="4DEF567")
        assert "1 read(s)" in shown and "4DEF567" in shown and "2345" not in shown
        refused = post(user="2002", pin="2345", purpose="", plate="4DEF567")
        assert "Refused: a search needs one of the six authorised purposes" in refused
        wrong = post(user="2002", pin="1111", purpose="criminal", plate="4DEF567")
        assert "Refused: badge or PIN not recognised" in wrong
    finally:
        page.shutdown()
    assert [(e["action"], e["refused"] is None) for e in store.access_log()] == [
        ("search", True),
        ("search", False),
        ("sign_in", False),
    ]
