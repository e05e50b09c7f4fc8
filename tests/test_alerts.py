"""Hit alerts: verify-before-stop, dispositions, escalation, cancellation (POL-11, POL-12)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alprd.alerts import RESTORE_WITHIN_H, AlertError, Alerts
from alprd.audit import AuditLog
from alprd.protocol.retention import parse_utc
from alprd.roster import Session
from alprd.store import Store, StoreError
from alprd.types import Hit, HotlistEntry
from alprd.ui import EventBus, alert_event
from tests.helpers import KEY, make_hit, make_read

OFFICER = Session("tok", "csrf", "1001", "Ofc. Able", "patrol_officer", 0.0, 0.0)


class Clock:
    t = 100.0

    def __call__(self):
        return self.t


class Wall:
    """An injected UTC clock, set from the reads' own stamps (never today's date)."""

    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def bus():
    return EventBus()


@pytest.fixture
def env(tmp_path, bus):
    store = Store(tmp_path / "car.db", KEY)
    clock = Clock()
    read = make_read("8XYZ442")
    alerts = Alerts(
        store,
        AuditLog(store, "CAR-1"),
        "CAR-1",
        lambda a: bus.publish(alert_event(a)),
        escalate_after_s=60,
        mono=clock,
        utc=Wall(parse_utc(read.utc) + timedelta(seconds=5)),
    )
    hit = make_hit(read)
    store.add_read(read, [hit])
    alert = alerts.open(read, [hit])
    yield alerts, store, clock, alert
    store.close()


def actions(store, hit_id):
    return [d["action"] for d in store.dispositions(hit_id)]


@pytest.mark.policy("POL-11")
def test_verified_only_after_three_steps_in_order_each_recorded(env):
    alerts, store, _, alert = env
    assert alert.verified is False
    with pytest.raises(AlertError, match="characters"):
        alerts.step(alert.hit_id, "want", OFFICER)  # steps cannot be skipped
    with pytest.raises(AlertError, match="three verify steps"):
        alerts.dispose(alert.hit_id, "verified_stopped", OFFICER)
    ev = alerts.step(alert.hit_id, "characters", OFFICER)
    assert ev.steps.keys() == {"characters"} and not ev.verified
    alerts.step(alert.hit_id, "state", OFFICER)
    ev = alerts.step(alert.hit_id, "want", OFFICER)
    assert ev.verified is True and all(v.endswith("Z") for v in ev.steps.values())
    assert actions(store, alert.hit_id) == [
        "acknowledged",
        "verify_characters",
        "verify_state",
        "verify_want",
    ]
    ev = alerts.dispose(alert.hit_id, "verified_stopped", OFFICER)
    assert ev.closed == "verified_stopped" and alerts.current() == []
    kinds = [i.kind for i in store.pending(100)]
    assert kinds.count("disposition") == 5
    audit = [r["action"] for r in AuditLog(store).records()]
    assert audit[-1] == "hit_verified_stopped" and "hit_verify_want" in audit


@pytest.mark.policy("POL-12")
def test_want_not_valid_queues_a_priority_report_for_communications_division(env):
    alerts, store, _, alert = env
    alerts.dispose(alert.hit_id, "want_not_valid", OFFICER, note="dispatch: recovered 11/27")
    first = store.pending(1)[0]
    assert first.kind == "report"
    assert first.body["type"] == "hotlist_error"
    assert first.body["for"] == "Communications Division"
    assert first.body["hotlist"]["plate"] == "8XYZ442" and first.body["badge"] == "1001"
    assert first.body["note"] == "dispatch: recovered 11/27"


@pytest.mark.policy("POL-11")
def test_an_unacknowledged_hit_is_escalated_once_and_recorded(env):
    alerts, store, clock, alert = env
    clock.t += 59
    assert alerts.tick() == []
    clock.t += 2
    assert alerts.tick() == [alert.hit_id]
    assert alerts.tick() == []  # once
    assert actions(store, alert.hit_id) == ["escalated"]
    report = store.pending(1)[0]
    assert report.kind == "report" and report.body["type"] == "hit_unacknowledged"
    assert alerts.current()[0].escalated_utc


def test_an_acknowledged_hit_is_not_escalated(env):
    alerts, store, clock, alert = env
    alerts.acknowledge(alert.hit_id, OFFICER)
    clock.t += 600
    assert alerts.tick() == []


@pytest.mark.policy("POL-12")
def test_a_cancellation_closes_the_open_alert(env, bus):
    alerts, store, _, alert = env
    q, _ = bus.subscribe()
    assert alerts.cancel([("8XYZ442", "NV")]) == []  # the same plate wanted in another state
    assert alerts.cancel([("8XYZ442", "CA")]) == [alert.hit_id]
    ev = q.get_nowait()
    assert ev["type"] == "alert" and ev["closed"] == "cancelled_by_hq"
    assert alerts.current() == []
    assert actions(store, alert.hit_id) == ["cancelled_by_hq"]
    with pytest.raises(AlertError, match="no longer open"):
        alerts.step(alert.hit_id, "characters", OFFICER)


@pytest.mark.policy("POL-11")
def test_a_step_and_its_audit_record_are_stored_together_or_not_at_all(env):
    """An audit write that fails (here SQLite itself refuses it) takes the step with it:
    nothing recorded, nothing queued, the step not counted, and the officer told."""
    alerts, store, _, alert = env
    before = [i.kind for i in store.pending(100)]
    store.db.conn.execute(
        "CREATE TRIGGER no_audit BEFORE INSERT ON audit "
        "BEGIN SELECT RAISE(ABORT, 'disk refused the audit record'); END"
    )
    with pytest.raises(StoreError, match="disk refused the audit record"):
        alerts.step(alert.hit_id, "characters", OFFICER)
    assert actions(store, alert.hit_id) == []
    assert [i.kind for i in store.pending(100)] == before
    assert alerts.current()[0].steps == {}
    store.db.conn.execute("DROP TRIGGER no_audit")
    alerts.step(alert.hit_id, "characters", OFFICER)
    assert actions(store, alert.hit_id) == ["acknowledged", "verify_characters"]
    audit = [r["action"] for r in AuditLog(store).records()]
    assert audit[-2:] == ["hit_acknowledged", "hit_verify_characters"]
    AuditLog(store).verify()  # raises if the chain were broken


@pytest.mark.policy("POL-11")
def test_an_alert_left_open_by_a_power_cut_comes_back_with_its_steps(env, tmp_path):
    alerts, store, _, alert = env
    alerts.step(alert.hit_id, "characters", OFFICER)
    alerts.step(alert.hit_id, "state", OFFICER)
    closed_read = make_read("7ABC123")
    closed_hit = make_hit(closed_read)
    store.add_read(closed_read, [closed_hit])
    closed = alerts.open(closed_read, [closed_hit])
    alerts.dispose(closed.hit_id, "misread", OFFICER)
    # the daemon starts again on the same database: a new Alerts, nothing in memory
    hit_time = parse_utc(alert.read.utc)
    # started again more than a shift (RESTORE_WITHIN_H) after the hit: not put back
    late = Alerts(
        store,
        AuditLog(store, "CAR-1"),
        "CAR-1",
        mono=Clock(),
        utc=Wall(hit_time + timedelta(hours=RESTORE_WITHIN_H, minutes=1)),
    )
    assert late.restore() == 0 and late.current() == []
    # started again within the shift: back on the screen with its steps
    again = Alerts(
        store,
        AuditLog(store, "CAR-1"),
        "CAR-1",
        mono=Clock(),
        utc=Wall(hit_time + timedelta(hours=1)),
    )
    assert again.restore() == 1
    (back,) = [alert_event(a) for a in again.current()]  # as the page shows it
    assert back["hit_id"] == alert.hit_id and back["hits"][0]["plate"] == "8XYZ442"
    assert list(back["steps"]) == ["characters", "state"] and back["verified"] is False
    assert back["acknowledged_utc"] and back["crop"].startswith("data:image/jpeg;base64,")
    assert back == alert_event(alert)  # the same alert as before, on the page
    (typed,) = again.current()
    assert typed.read == alert.read and typed.hit.entry == alert.hit.entry
    ev = again.step(alert.hit_id, "want", OFFICER)
    assert ev.verified is True
    assert again.restore() == 0  # already open: not added twice


@pytest.mark.policy("POL-11")
def test_each_hit_of_a_read_gets_its_own_alert_and_comes_back_after_a_stop(env):
    """(#23, item 13) A read hitting two wants (a stolen plate and a wanted person) opened only
    the first hit's alert, and a restart brought back the other."""
    alerts, store, _, _ = env
    read = make_read("5QQQ001")
    e1 = HotlistEntry("5QQQ001", "CA", "stolen_plate", "stolen plate", 1, "NIC/P1")
    e2 = HotlistEntry("5QQQ001", None, "wanted_person", "warrant", 1, "W-1")
    hits = [Hit(f"hit-{i}", read.id, e, "exact", read.utc) for i, e in enumerate((e1, e2))]
    store.add_read(read, hits)
    alerts.open(read, hits)
    mine = {a.hit_id: a for a in alerts.current() if a.read_id == read.id}
    assert set(mine) == {"hit-0", "hit-1"}
    assert mine["hit-1"].hit.entry.list_type == "wanted_person"
    alerts.dispose("hit-0", "misread", OFFICER)  # one closed, the other still open
    again = Alerts(
        store,
        AuditLog(store, "CAR-1"),
        "CAR-1",
        mono=Clock(),
        utc=Wall(parse_utc(read.utc) + timedelta(minutes=5)),
    )
    again.restore()
    back = {a.hit_id for a in again.current() if a.read_id == read.id}
    assert back == {"hit-1"}
    # the cancellation of one want (state None: every state) closes that alert alone
    assert again.cancel([("5QQQ001", None)]) == ["hit-1"]


def test_a_want_seen_again_within_minutes_opens_no_second_alert(env, bus, tmp_path):
    """#36 finding 3: the same plate on every pass raised a new alert each time. A hit on a
    want that alerted less than ui.repeat_suppress_min ago is stored and recorded as
    `repeat_suppressed` (audited, sent to HQ), the open alert says 'seen again', and no
    second alarm opens; after the window, or for another want, it alerts again. A suppressed
    hit is closed, so a restart does not bring it back as an alert."""
    alerts, store, clock, first = env
    q, _ = bus.subscribe()

    def again(text="8XYZ442"):
        read = make_read(text)
        hit = make_hit(read)
        store.add_read(read, [hit])
        alerts.open(read, [hit])
        return hit

    repeat = again()  # the first alert is still open
    assert [a.hit_id for a in alerts.current()] == [first.hit_id]
    assert first.repeats == 1 and first.seen_again_utc
    assert actions(store, repeat.id) == ["repeat_suppressed"]
    shown = [q.get_nowait() for _ in range(q.qsize())]
    assert [(e["hit_id"], e["repeats"]) for e in shown] == [(first.hit_id, 1)]  # updated
    assert "hit_repeat_suppressed" in [r["action"] for r in AuditLog(store).records()]
    alerts.dispose(first.hit_id, "misread", OFFICER)
    clock.t += 300  # closed five minutes ago: still a repeat
    later = again()
    assert alerts.current() == [] and actions(store, later.id) == ["repeat_suppressed"]
    other = again("7ABC123")  # another want alerts at once
    assert [a.hit_id for a in alerts.current()] == [other.id]
    clock.t += 601  # ten minutes after the last alert of 8XYZ442: it alerts again
    alerts.tick()
    fresh = again()
    assert {a.hit_id for a in alerts.current()} == {other.id, fresh.id}
    restarted = Alerts(
        store,
        AuditLog(store, "CAR-1"),
        "CAR-1",
        mono=Clock(),
        utc=Wall(parse_utc(first.read.utc) + timedelta(minutes=30)),
    )
    restarted.restore()
    assert {a.hit_id for a in restarted.current()} == {other.id, fresh.id}


def test_repeat_suppression_set_to_zero_alerts_every_hit(env):
    alerts, store, _, first = env
    alerts.repeat_suppress_s = 0
    read = make_read("8XYZ442")
    hit = make_hit(read)
    store.add_read(read, [hit])
    alerts.open(read, [hit])
    assert {a.hit_id for a in alerts.current()} == {first.hit_id, hit.id}


@pytest.mark.policy("POL-11")
def test_a_misread_may_say_what_the_plate_reads_as_a_label_for_hq(env):
    """#37 item 2: the officer may type the characters on the plate with a misread; they go
    to HQ in the disposition (corrected_text, schema-checked) as a label. Only with a
    misread, letters and digits only."""
    from alprd.protocol import check_record

    alerts, store, _, alert = env
    with pytest.raises(AlertError, match="with a misread only"):
        alerts.dispose(alert.hit_id, "unable_to_locate", OFFICER, corrected_text="8XYZ442")
    with pytest.raises(AlertError, match="letters and digits"):
        alerts.dispose(alert.hit_id, "misread", OFFICER, corrected_text="8XYZ<442>")
    alerts.dispose(alert.hit_id, "misread", OFFICER, corrected_text=" 8xyz-442 ")
    (sent,) = [i.body for i in store.pending(100) if i.kind == "disposition"]
    assert sent["action"] == "misread" and sent["corrected_text"] == "8XYZ442"
    check_record("disposition", sent)  # the schema takes it (raises if not)
