"""#23 item 6: the sign-in lockout holds under parallel guesses, bounds argon2's memory, survives
a restart, and does not tell an unknown badge from a wrong PIN (POL-04, CJIS AC-7)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from alprd.audit import AuditLog
from alprd.roster import Auth, Refused, Roster
from alprd.roster.auth import VERIFY_SLOTS
from alprd.store import Store
from tests.helpers import KEY
from tests.test_roster import HQ_KEY, USERS, roster_message

NOW = datetime(2026, 11, 28, 18, 0, tzinfo=timezone.utc)


class CountingHasher:
    """The real argon2 hasher, counting verifications and how many ran at once."""

    def __init__(self, hasher):
        self.hasher, self.calls, self.running, self.most = hasher, 0, 0, 0
        self.lock = threading.Lock()

    def verify(self, h, pin):
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return self.hasher.verify(h, pin)
        finally:
            with self.lock:
                self.running -= 1

    def __getattr__(self, name):
        return getattr(self.hasher, name)


@pytest.fixture
def car(tmp_path):
    store = Store(tmp_path / "car.db", KEY)
    roster = Roster(HQ_KEY.public_key(), tmp_path)
    roster.apply(roster_message(USERS, 1))

    def auth():
        a = Auth(
            roster,
            AuditLog(store, "CAR-1"),
            "CAR-1",
            utc=lambda: NOW,
            failures_path=tmp_path / "signin-failures.json",
        )
        a.hasher = CountingHasher(a.hasher)
        return a

    yield auth, store
    store.close()


def _code(auth, badge, pin):
    try:
        auth.sign_in(badge, pin)
        return "ok"
    except Refused as exc:
        return exc.code


def _parallel(auth, guesses):
    start = threading.Barrier(len(guesses))
    out = [None] * len(guesses)

    def go(i, badge, pin):
        start.wait()
        out[i] = _code(auth, badge, pin)

    threads = [threading.Thread(target=go, args=(i, b, p)) for i, (b, p) in enumerate(guesses)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


@pytest.mark.policy("POL-04")
def test_forty_parallel_guesses_check_five_pins_and_the_right_pin_stays_out(car):
    make, store = car
    auth = make()
    codes = _parallel(auth, [("1001", "0000")] * 40)
    assert codes.count("credentials") == 5, codes
    assert set(codes) <= {"credentials", "locked", "busy"}, codes
    assert auth.hasher.calls == 5  # a locked account costs no argon2 check
    assert _code(auth, "1001", "1234") == "locked"
    actions = [r["action"] for r in AuditLog(store).records()]
    assert actions.count("account_locked") == 1 and "sign_in" not in actions


@pytest.mark.policy("POL-04")
def test_parallel_verifications_are_bounded(car):
    make, _ = car
    auth = make()
    badges = [f"9{i:03d}" for i in range(12)] + ["1001", "2002", "4004"]
    codes = _parallel(auth, [(b, "0000") for b in badges])
    assert auth.hasher.most <= VERIFY_SLOTS, auth.hasher.most
    assert set(codes) <= {"credentials", "busy"}


@pytest.mark.policy("POL-04")
def test_the_lockout_survives_a_restart(car):
    make, _ = car
    auth = make()
    for _ in range(5):
        assert _code(auth, "1001", "0000") == "credentials"
    restarted = make()
    assert _code(restarted, "1001", "1234") == "locked"
    # failures short of a lock are kept too
    for _ in range(3):
        _code(restarted, "2002", "0000")
    again = make()
    assert [_code(again, "2002", "0000") for _ in range(3)] == [
        "credentials",
        "credentials",
        "locked",
    ]


@pytest.mark.policy("POL-04")
def test_an_unknown_badge_and_a_wrong_pin_get_the_same_answer_and_the_same_work(car):
    make, _ = car
    auth = make()
    answers = []
    for badge in ("9999", "1001"):
        before = auth.hasher.calls
        with pytest.raises(Refused) as exc:
            auth.sign_in(badge, "0000")
        answers.append((exc.value.code, str(exc.value), auth.hasher.calls - before))
    assert answers[0] == answers[1], answers
    assert answers[0][2] == 1  # an unknown badge is checked against a hash all the same
