"""Sign-in against HQ's signed roster: refusals, lockout, roles, separation (POL-04..07, 15)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alprd.audit import AuditLog
from alprd.protocol import UpdateRefused, roster_user, sign
from alprd.roster import LOCK_S, Auth, Refused, Roster
from alprd.store import Store
from tests.helpers import KEY

NOW = datetime(2026, 11, 28, 18, 0, tzinfo=timezone.utc)
HQ_KEY = Ed25519PrivateKey.generate()
USERS = [
    roster_user("1001", "Ofc. Able", "patrol_officer", "1234", "2026-01-01", "2026-11-01"),
    roster_user("2002", "Det. Baker", "data_user", "2345", "2025-01-01", "2026-10-01"),
    roster_user("4004", "Tech Dog", "fleet_technician", "4567", "2025-01-01"),
    roster_user("5005", "Ofc. Gone", "patrol_officer", "5678", "2024-01-01", status="deactivated"),
    roster_user("6006", "Ofc. New", "patrol_officer", "6789", None),
    roster_user("7007", "Ofc. Rusty", "data_user", "7890", "2020-01-01", "2025-11-27"),
]


def roster_message(users, version, key=HQ_KEY) -> bytes:
    return sign(
        {
            "v": 1,
            "kind": "roster",
            "roster_version": version,
            "created_utc": NOW.isoformat(),
            "users": users,
        },
        key,
    )


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def env(tmp_path):
    store = Store(tmp_path / "car.db", KEY)
    roster = Roster(HQ_KEY.public_key(), tmp_path)
    roster.apply(roster_message(USERS, 1))
    clock = Clock()
    auth = Auth(roster, AuditLog(store, "CAR-1"), "CAR-1", idle_s=600, mono=clock, utc=lambda: NOW)
    yield auth, store, clock
    store.close()


def refusal(auth, badge, pin) -> str:
    with pytest.raises(Refused) as exc:
        auth.sign_in(badge, pin)
    return exc.value.code


def audit_actions(store) -> list[str]:
    return [r["action"] for r in AuditLog(store).records()]


@pytest.mark.policy("POL-04")
def test_a_rostered_user_signs_in_and_gets_the_role_from_hq(env):
    auth, store, _ = env
    s = auth.sign_in("1001", "1234")
    assert s.role == "patrol_officer" and s.may("live") and not s.may("search")
    assert auth.session(s.token) is s
    assert audit_actions(store) == ["sign_in"]
    assert refusal(auth, "9999", "1234") == "credentials"  # not on the roster: no access
    assert refusal(auth, "", "") == "credentials"


@pytest.mark.policy("POL-05")
def test_a_deactivated_user_is_refused_audited_and_reported_to_psb(env):
    auth, store, _ = env
    assert refusal(auth, "5005", "5678") == "deactivated"
    assert "sign_in_refused" in audit_actions(store)
    reports = [i for i in store.pending(50) if i.kind == "report"]
    assert len(reports) == 1
    body = reports[0].body
    assert body["type"] == "deactivated_sign_in" and body["badge"] == "5005"
    assert body["for"] == "Professional Standards Bureau" and body["pin_correct"] is True
    assert store.pending(1)[0].kind == "report"  # ahead of everything else in the outbox


@pytest.mark.policy("POL-07")
def test_no_training_or_a_year_unused_is_refused_with_the_reason(env):
    auth, _, _ = env
    assert refusal(auth, "6006", "6789") == "training"
    assert refusal(auth, "7007", "7890") == "reorientation"  # last use 2025-11-27: > 1 year


@pytest.mark.policy("POL-07")
def test_last_use_within_a_year_is_accepted_and_sign_in_refreshes_it(env, tmp_path):
    auth, _, _ = env
    auth.sign_in("2002", "2345")
    roster = Roster(HQ_KEY.public_key(), tmp_path)
    roster.load_saved()  # a restart keeps the local last use
    assert roster.last_use(roster.get("2002")) == NOW.replace(microsecond=0)


@pytest.mark.policy("POL-04")
def test_five_failures_in_15_minutes_lock_the_account(env):
    auth, store, clock = env
    codes = []
    for _ in range(5):
        codes.append(refusal(auth, "1001", "0000"))
        clock.t += 60
    assert codes == ["credentials"] * 5
    assert refusal(auth, "1001", "1234") == "locked"  # even the right PIN
    assert "account_locked" in audit_actions(store)
    clock.t += LOCK_S
    assert auth.sign_in("1001", "1234").badge == "1001"


def test_failures_spread_over_more_than_15_minutes_do_not_lock(env):
    auth, _, clock = env
    for _ in range(8):
        refusal(auth, "1001", "0000")
        clock.t += 300  # one every 5 minutes: never five within 15
    assert auth.sign_in("1001", "1234")


@pytest.mark.policy("POL-15")
def test_a_user_removed_or_deactivated_by_the_next_roster_is_signed_out(env):
    auth, store, _ = env
    officer = auth.sign_in("1001", "1234")
    detective = auth.sign_in("2002", "2345")
    tech = auth.sign_in("4004", "4567")
    users = [u for u in USERS if u["badge"] != "1001"]  # 1001 separated from the department
    users = [{**u, "status": "deactivated"} if u["badge"] == "2002" else u for u in users]
    removed, changed = auth.roster.apply(roster_message(users, 2))
    ended = auth.roster_applied(removed, changed)
    assert sorted(ended) == ["1001", "2002"]
    assert auth.session(officer.token) is None and auth.session(detective.token) is None
    assert auth.ended[officer.token] == "removed_from_roster"
    assert auth.ended[detective.token] == "deactivated"
    assert auth.session(tech.token) is tech
    assert refusal(auth, "1001", "1234") == "credentials"


def test_forged_replayed_or_malformed_rosters_are_refused(env):
    auth, _, _ = env
    with pytest.raises(UpdateRefused, match="signature"):
        auth.roster.apply(roster_message(USERS, 5, key=Ed25519PrivateKey.generate()))
    with pytest.raises(UpdateRefused, match="not newer"):
        auth.roster.apply(roster_message(USERS, 1))
    with pytest.raises(UpdateRefused, match="argon2"):
        auth.roster.apply(roster_message([{**USERS[0], "pin_hash": "1234"}], 6))
    with pytest.raises(UpdateRefused, match="role"):
        auth.roster.apply(roster_message([{**USERS[0], "role": "root"}], 7))
    assert auth.roster.version == 1 and auth.sign_in("1001", "1234")


def test_an_idle_session_ends(env):
    auth, _, clock = env
    s = auth.sign_in("1001", "1234")
    clock.t += 599
    assert auth.session(s.token) is s
    clock.t += 601
    assert auth.session(s.token) is None and auth.ended[s.token] == "idle"


def test_no_idle_sign_out_while_a_hit_is_open(env):
    """#36 finding 2: an officer who has not touched the screen stays signed in while a hit
    is open (else the alarm sounds on a signed-out page); the idle time starts again once
    the hits are closed. Roles that see no hits still go idle."""
    auth, _, clock = env
    officer = auth.sign_in("1001", "1234")
    tech = auth.sign_in("4004", "4567")
    assert not tech.may("live")
    hit_open = [True]
    auth.hit_open = lambda: hit_open[0]
    clock.t += 3600
    assert auth.session(officer.token, touch=False) is officer  # the event stream looks
    assert auth.session(tech.token) is None  # sees no hits: idle as before
    clock.t += 3600
    assert auth.session(officer.token, touch=False) is officer
    hit_open[0] = False  # the hit is disposed of ...
    clock.t += 599
    assert auth.session(officer.token, touch=False) is officer
    clock.t += 2  # ... and the idle time runs from then
    assert auth.session(officer.token) is None and auth.ended[officer.token] == "idle"


def test_no_roster_yet_says_so(tmp_path):
    store = Store(tmp_path / "car.db", KEY)
    auth = Auth(Roster(HQ_KEY.public_key(), tmp_path), AuditLog(store), "CAR-1")
    assert refusal(auth, "1001", "1234") == "no_roster"
    store.close()


def test_pin_hashes_are_argon2id():
    assert USERS[0]["pin_hash"].startswith("$argon2id$")
    assert "1234" not in USERS[0]["pin_hash"]
    assert "m=65536,t=3,p=4" in USERS[0]["pin_hash"]  # RFC 9106's second recommendation
