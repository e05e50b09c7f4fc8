"""#36, the in-car page at 2 a.m.: the car's health on every screen, hits that queue instead of
replacing each other, an alarm that says when it cannot sound, and every screen inside the
MDC's 800x480 (real Chromium, real daemon, real broker and HQ: tests/incar.py). Each screen
is photographed to build/screenshots/; docs/screens/ holds copies for readers."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.helpers import wait_for
from tests.incar import (  # noqa: F401  (browser, car, page: fixtures)
    browser,
    car,
    fits,
    needs_chromium,
    page,
    shot,
    sign_in,
)

pytestmark = needs_chromium


def officer_signed_in(page, car) -> None:
    sign_in(page, car, "1001", "1234")
    page.wait_for_selector("#status.ok")


def alert_shows(page, text: str) -> None:
    expect(page.locator("#alert-read")).to_have_text(text)


HITS = {  # three wants of the car's hotlist (tests/incar.py ENTRIES), read exactly
    "7ABC123": "CA",
    "5KLM900": "NV",
    "BXYZ442": "CA",
}


def hit(car, text: str):
    return car.hit(text=text, state=HITS[text], candidates=((text, 0.99),))


# -- finding 1: a broken car does not look healthy -------------------------------------------
def test_a_car_with_no_camera_and_no_gps_says_so_on_the_page_and_at_hq(car, page):
    """Before #36 the page was black with a green "live". This car has no camera and no GPS:
    the camera's chip is red and a banner names it, the GPS chip is amber with its words, and
    HQ's fleet view gets the same levels and words with the car's next batch."""
    officer_signed_in(page, car)
    expect(page.locator("#banner")).to_contain_text("No camera configured")
    assert "fail" in page.get_attribute("[data-part=camera]", "class")
    # a car configured without GPS: amber, as the self-test says (a warning, not a failure)
    assert "warn" in page.get_attribute("[data-part=gps]", "class")
    assert "No GPS receiver configured" in page.get_attribute("[data-part=gps]", "title")
    expect(page.locator("[data-part=uplink]")).to_have_class("chip ok")  # HQ is connected
    expect(page.locator("[data-part=hotlist]")).to_have_class("chip ok")
    assert page.is_visible("#no-reads")  # an empty list says so, not a black screen
    fits(page, "car-broken-banner-800x480")
    car.hit()  # something for HQ: a batch carries the car's status
    assert wait_for(lambda: (car.hq.store.units() or [{}])[0].get("car_health"), 15), (
        "HQ never got the car's health"
    )
    said = json.loads(car.hq.store.units()[0]["car_health"])
    assert said["health"]["camera"] == "fail" and said["health"]["gps"] == "warn"
    assert any("No camera configured" in p for p in said["problems"])


# -- findings 2-5: the alert flow --------------------------------------------------------------
def test_three_hits_queue_the_second_is_verified_and_a_reload_keeps_sound_and_every_hit(car, page):
    """The done-when test of #36: three hits in a row; the first stays on screen and the others
    wait behind NEXT HIT; the second is verified and disposed while the third waits; the page
    reloads (the MDC's browser restarts) and the officer still sees every open hit and either
    hears the alarm or is told to tap to arm it."""
    officer_signed_in(page, car)
    page.evaluate("armSound()")  # the sign-in tap armed it; make sure before counting beeps
    hit(car, "7ABC123")
    page.wait_for_selector("#alert:not([hidden])")
    alert_shows(page, "7ABC123")
    expect(page.locator("#alert-list")).to_have_text("AMBER alert")
    expect(page.locator("#alert-priority")).to_contain_text("PRIORITY 1")
    assert page.is_hidden("#alert-next")
    second = hit(car, "5KLM900")
    hit(car, "BXYZ442")
    expect(page.locator("#alert-next")).to_have_text("NEXT HIT (2)")
    alert_shows(page, "7ABC123")  # the one being looked at is not replaced
    expect(page.locator("#alert-count")).to_have_text("HIT 1 of 3")
    assert page.evaluate("beeper !== null")  # three unacknowledged hits: the alarm sounds
    fits(page, "alert-queue-800x480")

    page.click("#alert-next")
    alert_shows(page, "5KLM900")
    expect(page.locator("#alert-list")).to_have_text("BOLO")
    expect(page.locator("#alert-priority")).to_have_text("PRIORITY 2")
    for step in ("characters", "state", "want"):
        page.click(f"[data-step={step}]")
        page.wait_for_selector(f"[data-step={step}].done")
    expect(page.locator("#alert-verdict")).to_have_text("VERIFIED")
    fits(page, "alert-verified-queue-800x480")
    page.click("[data-dispo=verified_not_stopped]")
    alert_shows(page, "7ABC123")  # back to the first; the third still waits
    expect(page.locator("#alert-next")).to_have_text("NEXT HIT (1)")

    page.reload()
    page.wait_for_selector("#alert:not([hidden])")
    expect(page.locator("#alert-count")).to_have_text("HIT 1 of 2")
    seen = set()
    for _ in range(2):
        seen.add(page.inner_text("#alert-read"))
        page.click("#alert-next")
    assert seen == {"7ABC123", "BXYZ442"}
    armed = page.evaluate("soundArmed()")
    assert armed or page.is_visible("#arm-sound"), "no sound and no prompt after a reload"
    if not armed:
        assert page.evaluate("beeper === null")
        fits(page, "alert-after-reload-arm-sound-800x480")
        page.click("#arm-sound")
        page.wait_for_selector("#arm-sound", state="hidden")
    assert page.evaluate("soundArmed() && beeper !== null")  # hits unacknowledged: it sounds
    assert [a.read.text for a in car.daemon.alerts.current()] == ["7ABC123", "BXYZ442"]
    done = [d["action"] for d in car.daemon.store.dispositions(second.id)]
    assert done == [
        "acknowledged",
        "verify_characters",
        "verify_state",
        "verify_want",
        "verified_not_stopped",
    ]


def test_the_fullest_alert_fits_800x480_in_each_theme(car, page):
    """#36 finding 5: with the escalation banner the alert was 509 px in a 424 px area and the
    dispositions scrolled off. The fullest alert (escalated, seen again, a doubted character,
    another state's want, a queue) keeps every control on screen at 64 px, with the list
    type and priority prominent, at night, dimmed and by day."""
    officer_signed_in(page, car)
    car.daemon.alerts.escalate_after_s = 0  # nobody acknowledges: escalated at the next turn
    car.hit(state="NV", state_confidence=0.94)
    page.wait_for_selector("#alert:not([hidden])")
    expect(page.locator("#alert-escalated")).to_be_visible(timeout=5000)
    car.hit(state="NV", state_confidence=0.94)  # the same want again: no second alert
    expect(page.locator("#alert-again")).to_contain_text("SEEN AGAIN ×1")
    hit(car, "7ABC123")
    expect(page.locator("#alert-next")).to_have_text("NEXT HIT (1)")
    expect(page.locator("#alert-list")).to_have_text("Stolen vehicle")
    assert "STATE DIFFERS" in page.inner_text("#alert-state-hint")
    assert "POSSIBLE MATCH" in page.inner_text("#alert-rule")
    size = page.evaluate("parseFloat(getComputedStyle($('alert-list')).fontSize)")
    assert size >= 24  # the list type reads at a glance, not as a caption
    fits(page, "alert-fullest-night-800x480")
    page.click("#theme")
    assert page.evaluate("document.body.classList.contains('dim')")
    fits(page, "alert-fullest-dim-800x480")
    page.click("#theme")
    assert page.evaluate("document.body.classList.contains('day')")
    fits(page, "alert-fullest-day-800x480")
    page.reload()  # the theme is kept on this screen
    page.wait_for_selector("#alert:not([hidden])")
    assert page.evaluate("document.body.classList.contains('day')")


def test_search_sits_above_the_live_list_says_why_nothing_matched_and_export_all_asks(car, page):
    """#36 finding 8: the form sat below 30 live reads; '8XYZ' gave '0 read(s)' with no hint;
    one tap on Export with an empty query downloaded every read."""
    from tests.helpers import make_read

    for i in range(30):
        car.daemon.pipeline.record(make_read(f"4DEF{i:03d}", unit="CAR-7"), [])
    sign_in(page, car, "3003", "3456")  # an administrator: live list, search and export
    page.wait_for_selector("#search:not([hidden])")
    page.wait_for_selector("#reads li")
    form = page.locator("#search-form").bounding_box()
    assert form["y"] + form["height"] <= 480  # on the first screen, above the reads
    page.select_option("#purpose", "criminal")
    page.fill("#q-plate", "4DEF")
    page.click("#search-form button[type=submit]")
    expect(page.locator("#search-msg")).to_contain_text("0 read(s)")
    expect(page.locator("#search-msg")).to_contain_text("whole text")
    fits(page, "search-no-match-800x480")
    page.fill("#q-plate", "4DEF007")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#results td")
    results = page.locator("#results").bounding_box()
    assert results["y"] < 480  # the result is on screen, not at the bottom of a long page
    fits(page, "search-result-800x480")


def test_the_technician_and_sign_in_screens_fit(car, page):
    page.goto(car.url)
    page.wait_for_selector("#signin", state="visible")
    fits(page, "signin-800x480")
    sign_in(page, car, "4004", "4567")
    page.wait_for_selector("#tech:not([hidden])")
    page.click("#selftest")
    page.wait_for_selector("#ticket-link", timeout=60000)
    fits(page, "selftest-technician-800x480")


def test_hqs_fleet_page_shows_the_broken_car_and_its_search_screen(car, browser):
    """#36 finding 6, HQ's side in a browser: the car with no camera and no GPS is flagged
    with its own words, and the Search screen is one click away."""
    from alprd.demo.broker import free_port
    from alprd.hq.fleet import serve_page

    car.hit()  # a batch: the car's status reaches HQ with it
    assert wait_for(lambda: (car.hq.store.units() or [{}])[0].get("car_health"), 15)
    port = free_port()
    server = serve_page(car.hq.store, "127.0.0.1", port, car.hq.broker_state)
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    hq = ctx.new_page()
    try:
        hq.goto(f"http://127.0.0.1:{port}/")
        expect(hq.locator("tr.flag")).to_contain_text("camera failing")
        expect(hq.locator("tr.flag")).not_to_contain_text("gps failing")
        expect(hq.locator("tr.flag")).to_contain_text("No camera configured")
        expect(hq.locator("header")).to_contain_text("connected for")
        shot(hq, "hq-fleet-1280x720")
        hq.click("text=Search")
        expect(hq.locator("select[name=purpose]")).to_be_visible()
        shot(hq, "hq-search-1280x720")
    finally:
        ctx.close()
        server.shutdown()


def test_the_screenshots_in_docs_are_the_screens_these_tests_check():
    """docs/screens/ holds copies of the pictures the tests above take: each is one of the
    screens fits() checks against 800x480 (or HQ's page), at its size."""
    import re
    from pathlib import Path

    import cv2

    root = Path(__file__).resolve().parent.parent
    here = Path(__file__).resolve().parent
    sources = "".join(
        (here / f).read_text() for f in ("test_incar_screens.py", "test_incar_browser.py")
    )
    checked = set(re.findall(r'(?:fits|shot)\((?:page|hq), "([^"]+)"\)', sources))
    pictures = sorted((root / "docs" / "screens").glob("*.png"))
    assert pictures, "no screenshots in docs/screens"
    for p in pictures:
        assert p.stem in checked, f"{p.name} is not a screen these tests check"
        h, w = cv2.imread(str(p)).shape[:2]
        want = (1280, 720) if p.stem.endswith("1280x720") else (800, 480)
        assert (w, h) == want, p.name
