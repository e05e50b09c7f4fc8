"""The in-car page in a real headless Chromium (Debian's), driven by Playwright, against a real
daemon, a real mosquitto and the reference HQ endpoint (tests/incar.py: the car, the browser).
Screenshots at 800x480 go to build/screenshots/ for a person to look at."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from alprd.audit import AuditLog
from alprd.protocol import sign
from tests.helpers import make_read, wait_for
from tests.incar import (  # noqa: F401  (browser, car, page: fixtures)
    ENTRY,
    UNIT,
    USERS,
    Car,
    browser,
    car,
    fits,
    needs_chromium,
    officer_sees_a_hit,
    page,
    shot,
    sign_in,
)

pytestmark = needs_chromium


# -- sign-in -----------------------------------------------------------------------------------
@pytest.mark.policy("POL-04")
@pytest.mark.policy("POL-05")
@pytest.mark.policy("POL-07")
def test_each_sign_in_refusal_says_why(car, page):
    page.goto(car.url)
    page.wait_for_selector("#signin", state="visible")  # is_visible() does not wait: a busy
    assert not page.is_visible("#alert")  # machine had not drawn it yet; no anonymous use
    cases = [
        ("9999", "1234", "not recognised"),
        ("5005", "5678", "Professional Standards Bureau"),
        ("6006", "6789", "No ALPR training"),
        ("7007", "7890", "reorientation"),
    ]
    for badge, pin, words in cases:
        sign_in(page, car, badge, pin)
        page.wait_for_selector("#refusal:not([hidden])")
        assert words in page.inner_text("#refusal"), badge
        if badge == "5005":
            shot(page, "signin-refused-deactivated")
    # the deactivated attempt reached HQ as a priority report, and the audit trail has it
    assert wait_for(lambda: car.hq_records("report"), 15), "no PSB report at HQ"
    report = car.hq_records("report")[0]
    assert report["type"] == "deactivated_sign_in" and report["badge"] == "5005"
    actions = [(r["username"], r["action"]) for r in AuditLog(car.daemon.store).records()]
    assert ("5005", "sign_in_refused") in actions
    # five wrong PINs lock the account, even against the right one
    for i in range(5):
        sign_in(page, car, "1001", "0000")
        expect(page.locator("#refusal")).to_contain_text(
            "now locked" if i == 4 else f"{4 - i} attempt(s) left"
        )
    sign_in(page, car, "1001", "1234")
    expect(page.locator("#refusal")).to_contain_text("is locked")
    shot(page, "signin-locked")
    assert not page.is_visible("#live")


# -- a hit, verify-before-stop -------------------------------------------------------------------
@pytest.mark.policy("POL-11")
def test_a_hit_arrives_and_is_verified_step_by_step(car, page):
    hit = officer_sees_a_hit(page, car)
    verdict = page.inner_text("#alert-verdict")
    assert "UNVERIFIED" in verdict and "NOT PROBABLE CAUSE" in verdict
    assert page.inner_text("#alert-read") == "8XYZ442"
    assert page.inner_text("#alert-entry") == "BXYZ442"
    assert page.inner_text("#alert-read .diff") == "8"  # the differing character stands out
    assert page.inner_text("#alert-entry .diff") == "B"
    assert "POSSIBLE MATCH" in page.inner_text("#alert-rule")  # #34: the readers' doubt
    assert "BXYZ442 25 % likely" in page.inner_text("#alert-rule")
    assert "V123456789" in page.inner_text("#alert-case")
    assert "STOLEN VEHICLE" in page.inner_text("#alert-list")
    assert "rear" in page.inner_text("#alert-where")
    page.wait_for_timeout(1200)  # let the flash settle before the picture
    shot(page, "alert-800x480")
    # the disposition that needs verification is not available yet; steps go in order
    assert page.is_disabled("[data-dispo=verified_stopped]")
    assert page.is_disabled("[data-step=state]") and page.is_disabled("[data-step=want]")
    for n, step in enumerate(("characters", "state", "want"), 1):
        page.click(f"[data-step={step}]")
        page.wait_for_selector(f"[data-step={step}].done")
        if n < 3:
            assert f"({n}/3)" in page.inner_text("#alert-verdict")
    expect(page.locator("#alert-verdict")).to_have_text("VERIFIED")
    shot(page, "alert-verified-800x480")
    page.click("[data-dispo=verified_stopped]")
    page.wait_for_selector("#alert", state="hidden")
    steps = [d["action"] for d in car.daemon.store.dispositions(hit.id)]
    assert steps == [
        "acknowledged",
        "verify_characters",
        "verify_state",
        "verify_want",
        "verified_stopped",
    ]
    assert wait_for(lambda: len(car.hq_records("disposition")) == 5, 15), "dispositions at HQ"
    stamps = [d["utc"] for d in car.hq_records("disposition")]
    assert all(s.endswith("Z") for s in stamps) and stamps == sorted(stamps)


@pytest.mark.policy("POL-11")
def test_the_card_says_the_state_read_and_how_sure_and_flags_another_states_want(car, page):
    """#33: the state read off the plate, with its confidence, beside the record's; a want of
    another state is flagged on the card and in the state step's hint; a state not read says
    so. The officer still confirms the state by eye (the step stays)."""
    sign_in(page, car, "1001", "1234")
    page.wait_for_selector("#status.ok")
    car.hit(state="NV", state_confidence=0.94)  # the want is for CA
    page.wait_for_selector("#alert:not([hidden])", timeout=5000)
    assert page.inner_text("#alert-read-state") == "State read: NV, 94 %"
    assert "mismatch" in page.get_attribute("#alert-read-state", "class")
    assert page.inner_text("#alert-entry-state") == "State: CA"
    hint = page.inner_text("#alert-state-hint")
    assert "STATE DIFFERS" in hint and "reads NV" in hint and "want is for CA" in hint
    assert page.is_visible("[data-dispo=misread]")  # the hint leaves room for the buttons
    page.wait_for_timeout(1200)
    shot(page, "alert-state-differs-800x480")
    page.click("[data-dispo=misread]")  # #37: the officer may type what the plate says
    page.wait_for_selector("#misread:not([hidden])")
    assert page.get_attribute("#misread-text", "placeholder") == "8XYZ442"
    fits(page, "alert-misread-800x480")
    page.fill("#misread-text", "8xyz 442")
    page.click("#misread .save")
    page.wait_for_selector("#alert", state="hidden")
    assert wait_for(
        lambda: [d for d in car.hq_records("disposition") if d["action"] == "misread"], 15
    ), "the misread never reached HQ"
    (misread,) = [d for d in car.hq_records("disposition") if d["action"] == "misread"]
    assert misread["corrected_text"] == "8XYZ442"  # a label for HQ's field accuracy
    car.daemon.alerts.repeat_suppress_s = 0  # the same want again at once: alert on it
    car.hit(state=None, state_confidence=None)
    page.wait_for_selector("#alert:not([hidden])", timeout=5000)
    assert page.inner_text("#alert-read-state") == "State read: not sure"
    assert page.inner_text("#alert-state-hint") == "State not read: look for CA on the plate."


@pytest.mark.policy("POL-12")
def test_want_not_valid_reaches_hq_as_a_priority_report(car, page):
    officer_sees_a_hit(page, car)
    page.click("[data-dispo=want_not_valid]")
    page.wait_for_selector("#alert", state="hidden")
    assert wait_for(
        lambda: any(r["type"] == "hotlist_error" for r in car.hq_records("report")), 15
    ), "no hotlist-error report at HQ"
    report = next(r for r in car.hq_records("report") if r["type"] == "hotlist_error")
    assert report["for"] == "Communications Division"
    assert report["hotlist"]["plate"] == "BXYZ442" and report["badge"] == "1001"


@pytest.mark.policy("POL-12")
def test_a_cancellation_from_hq_withdraws_the_open_alert(car, page):
    officer_sees_a_hit(page, car)
    delta = {
        "v": 1,
        "kind": "hotlist.delta",
        "from_version": car.list_version,
        "list_version": car.list_version + 1,
        "cancellation": True,
        "add": [],
        "remove": [[ENTRY.plate, ENTRY.state]],
    }
    car.hq.client.publish("alprd/v1/hotlist", sign(delta, car.key), qos=1, retain=True)
    page.wait_for_selector("#alert", state="hidden", timeout=5000)
    assert "WITHDRAWN" in page.inner_text("#notice")
    shot(page, "alert-withdrawn")
    assert car.daemon.hotlist.match("BXYZ442", "CA") == []


# -- roles -----------------------------------------------------------------------------------------
@pytest.mark.policy("POL-06")
def test_a_fleet_technician_sees_no_plate_data_and_runs_the_self_test(car, page):
    sign_in(page, car, "4004", "4567")
    page.wait_for_selector("#tech:not([hidden])")
    page.wait_for_selector("#status.ok")
    car.hit()
    page.wait_for_timeout(1500)
    assert not page.is_visible("#alert") and not page.is_visible("#live")
    assert "8XYZ442" not in page.content()
    blocked = page.evaluate("fetch('/api/alerts').then(r => r.status)")
    assert blocked == 403
    page.click("#selftest")
    page.wait_for_selector("#ticket-link", timeout=60000)
    assert "FAIL" in page.inner_text("#selftest-results")  # no camera in this car
    shot(page, "selftest-technician")
    with page.expect_popup() as popup:
        page.click("#ticket-link")
    ticket = popup.value
    ticket.wait_for_load_state()
    assert "Motor Vehicle Trouble Ticket" in ticket.content()
    assert "Tech Dunn" in ticket.content()
    assert wait_for(lambda: car.hq_records("ticket"), 15), "no ticket at HQ"


@pytest.mark.policy("POL-02")
@pytest.mark.policy("POL-17")
def test_search_needs_a_purpose_and_every_access_is_audited(car, page):
    read = make_read("4DEF567", unit=UNIT, state="NV", state_confidence=0.99)
    car.daemon.pipeline.record(read, [])
    sign_in(page, car, "2002", "2345")
    page.wait_for_selector("#search:not([hidden])")
    assert not page.is_visible("#export")  # export is for administrators
    page.fill("#q-plate", "4DEF567")
    page.click("#search-form button[type=submit]")  # no purpose chosen: the form refuses
    assert page.inner_text("#search-msg") == "" and not page.is_visible("#results tr")
    status = page.evaluate("""fetch('/api/search', {method: 'POST', headers: {'Content-Type':
        'application/json', 'X-CSRF-Token': me.csrf}, body: JSON.stringify({plate: '4DEF567'})})
        .then(r => r.status)""")
    assert status == 400
    page.select_option("#purpose", "criminal")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#results td")
    assert "4DEF567" in page.inner_text("#results")
    assert "NV 99 %" in page.inner_text("#results")  # the state read, and how sure (#33)
    page.click("#results button")
    page.wait_for_selector("#viewer:not([hidden]) img")
    shot(page, "search-data-user")
    recs = [r for r in AuditLog(car.daemon.store).records() if r["purpose"]]
    assert [
        (r["action"], r["username"], r["purpose"], r["query"].get("plate"), r["result_count"])
        for r in recs
    ] == [
        ("search", "2002", "criminal", "4DEF567", 1),
        ("view_read", "2002", "criminal", "4DEF567", 1),
    ]
    assert all(r["utc"].endswith("Z") for r in recs)
    assert wait_for(lambda: len([a for a in car.hq_records("audit") if a["purpose"]]) == 2, 15), (
        "the audit records are not at HQ"
    )


@pytest.mark.policy("POL-08")
def test_export_is_for_administrators_only_and_audited(car, page):
    car.daemon.pipeline.record(make_read("4DEF567", unit=UNIT), [])
    sign_in(page, car, "3003", "3456")
    page.wait_for_selector("#export:not([hidden])")
    page.select_option("#purpose", "civil")
    page.click("#export")  # #36: no plate, no dates: every read; the first tap only asks
    expect(page.locator("#search-msg")).to_contain_text("EVERY read on this car")
    assert "export" not in [r["action"] for r in AuditLog(car.daemon.store).records()]
    with page.expect_download() as dl:
        page.click("#export")
    data = json.loads(Path(dl.value.path()).read_text())
    assert data["reads"][0]["text"] == "4DEF567" and data["purpose"] == "civil"
    assert [r["action"] for r in AuditLog(car.daemon.store).records()][-1] == "export"
    page.click("#signout")
    sign_in(page, car, "2002", "2345")
    page.wait_for_selector("#search:not([hidden])")
    status = page.evaluate("""fetch('/api/export', {method: 'POST', headers: {'Content-Type':
        'application/json', 'X-CSRF-Token': me.csrf}, body: JSON.stringify({purpose: 'civil'})})
        .then(r => r.status)""")
    assert status == 403


@pytest.mark.policy("POL-06")
def test_nobody_in_the_car_can_change_or_delete_data(car, page):
    read = make_read("4DEF567", unit=UNIT)
    car.daemon.pipeline.record(read, [])
    sign_in(page, car, "3003", "3456")  # not even an administrator, from the car
    page.wait_for_selector("#search:not([hidden])")
    for method in ("PUT", "DELETE", "PATCH"):
        status = page.evaluate(f"""fetch('/api/reads/{read.id}', {{method: '{method}',
            headers: {{'X-CSRF-Token': me.csrf}}}}).then(r => r.status)""")
        assert status == 405
    # a request without the CSRF token is refused
    status = page.evaluate("""fetch('/api/search', {method: 'POST', headers: {'Content-Type':
        'application/json'}, body: JSON.stringify({purpose: 'civil'})}).then(r => r.status)""")
    assert status == 403
    assert car.daemon.store.read(read.id)["text"] == "4DEF567"


@pytest.mark.policy("POL-15")
def test_a_user_removed_from_the_roster_is_signed_out_at_the_next_sync(car, page):
    sign_in(page, car, "1001", "1234")
    page.wait_for_selector("#status.ok")
    car.hq.publish_roster([u for u in USERS if u["badge"] != "1001"], car.key)
    page.wait_for_selector("#signin:not([hidden])", timeout=5000)
    assert "removed your account" in page.inner_text("#refusal")
    shot(page, "signed-out-by-roster")
    sign_in(page, car, "1001", "1234")  # an unknown badge now costs an argon2 check too
    expect(page.locator("#refusal")).to_contain_text("not recognised")


def test_anonymous_api_requests_are_refused(car):
    for path in ("/events", "/api/alerts", "/api/me", "/api/options"):
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(car.url.rstrip("/") + path, timeout=5)
        assert exc.value.code == 401, path


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_the_page_is_served_over_https_with_secure_cookies(broker, tmp_path):
    import ssl

    from alprd.provision import provision

    provision(tmp_path / "keys", UNIT)
    car = Car(
        broker,
        tmp_path,
        ui={
            "tls_cert": str(tmp_path / "keys" / "page.crt"),
            "tls_key": str(tmp_path / "keys" / "page.key"),
        },
    )
    try:
        assert car.url.startswith("https://")
        ctx = ssl.create_default_context(cafile=str(tmp_path / "keys" / "ca.crt"))
        req = urllib.request.Request(
            car.url + "api/signin",
            method="POST",
            data=json.dumps({"badge": "1001", "pin": "1234"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
        with pytest.raises(OSError):  # no plain HTTP on the same port
            urllib.request.urlopen(car.url.replace("https", "http"), timeout=5)
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # TLS 1.1 and older are refused
        old.load_verify_locations(str(tmp_path / "keys" / "ca.crt"))
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises(OSError):
            urllib.request.urlopen(car.url, context=old, timeout=5)
        with urllib.request.urlopen(car.url, context=ctx, timeout=5) as r:  # still serving
            assert b"Sign in" in r.read()
    finally:
        car.stop()


@pytest.mark.policy("POL-19")
def test_a_signed_command_runs_the_self_test_a_forged_or_replayed_one_does_not(car, caplog):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from alprd.protocol import command_body

    forged = command_body(UNIT, "selftest")
    car.daemon.inbox.command(sign(forged, Ed25519PrivateKey.generate()))
    assert "command refused: signature" in caplog.text
    other = command_body("CAR-99", "selftest")
    car.daemon.inbox.command(sign(other, car.key))
    assert "not a command for this unit" in caplog.text
    cid = car.hq.send_command(UNIT, "selftest", car.key)
    assert wait_for(lambda: car.hq_records("ticket"), 60), "no ticket at HQ"
    t = car.hq_records("ticket")[0]
    assert t["command_id"] == cid and t["reporting_employee"] == "HQ command"
    assert {c["component"] for c in t["components"]} == {"cameras"}  # this car has none
    assert len(car.hq_records("ticket")) == 1  # the forged and the misdirected ones ran nothing
    replay = command_body(UNIT, "selftest")
    replay["id"] = cid
    car.daemon.inbox.command(sign(replay, car.key))
    assert "already run (replayed)" in caplog.text
