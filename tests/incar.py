"""What the in-car page's browser tests share: a running car with HQ on a real broker, Debian's
Chromium driven by Playwright at the MDC's 800x480, and the few steps every test takes.
Screenshots go to build/screenshots/ (ALPRD_SCREENSHOTS overrides) for a person to look at."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from pathlib import Path

import pytest

from alprd.config import load
from alprd.daemon import Daemon
from alprd.demo.broker import free_port
from alprd.hq import HqEndpoint, signing_key
from alprd.protocol import roster_user
from alprd.types import Hit, HotlistEntry
from tests.helpers import key_file, make_read, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(  # every module that drives the page
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install chromium; ./run test installs it)",
)
SHOTS = Path(
    os.environ.get(
        "ALPRD_SCREENSHOTS", Path(__file__).resolve().parent.parent / "build" / "screenshots"
    )
)
UNIT = "CAR-7"
ENTRY = HotlistEntry(
    "BXYZ442", "CA", "stolen_vehicle", "Stolen 11/26, grey Honda Civic", 1, "V123456789"
)
ENTRIES = [
    ENTRY,
    HotlistEntry("7ABC123", "CA", "amber", "AMBER alert: girl, 6, in a white van", 1, "A-2611"),
    HotlistEntry("5KLM900", "NV", "bolo", "BOLO: armed robbery suspect, red pickup", 2, None),
]
USERS = [
    roster_user("1001", "Ofc. Able", "patrol_officer", "1234", "2026-01-01"),
    roster_user("2002", "Det. Baker", "data_user", "2345", "2026-01-01"),
    roster_user("3003", "Adm. Cole", "administrator", "3456", "2026-01-01"),
    roster_user("4004", "Tech Dunn", "fleet_technician", "4567", "2026-01-01"),
    roster_user("5005", "Ofc. Gone", "patrol_officer", "5678", "2024-01-01", status="deactivated"),
    roster_user("6006", "Ofc. New", "patrol_officer", "6789", None),
    roster_user("7007", "Ofc. Rusty", "patrol_officer", "7890", "2020-01-01", "2024-06-01"),
]


class Car:
    """A running daemon (no camera: hits are injected as the pipeline would record them)
    with HQ on a real broker."""

    def __init__(self, broker, tmp_path, ui: dict | None = None):
        self.key = signing_key(tmp_path / "hq.key")
        self.hq = HqEndpoint(broker.url, tmp_path / "hq.db", client_id=f"hq-{uuid.uuid4()}")
        self.hq.start()
        self.hq.publish_roster(USERS, self.key)
        self.list_version = self.hq.publish_hotlist(ENTRIES, self.key)
        cfg = load(
            None,
            environ={},
            defaults={
                "vehicle": {"unit_id": UNIT},
                "store": {"path": str(tmp_path / "car.db"), "key_file": str(key_file(tmp_path))},
                "hotlist": {"public_key": str(tmp_path / "hq.key.pub")},
                "uplink": {"broker": broker.url, "retry_s": 1},
                "ui": {"listen": f"127.0.0.1:{free_port()}", **(ui or {})},
            },
        )
        self.daemon = Daemon(cfg)
        self.thread = threading.Thread(target=self.daemon.run, daemon=True)
        self.thread.start()
        assert wait_for(lambda: self.daemon.roster.version and self.daemon.sync.version, 15), (
            "no roster and hotlist at the car"
        )
        self.url = self.daemon.page.url

    def hit(
        self,
        text="8XYZ442",
        state="CA",
        state_confidence=0.99,
        candidates=(("8XYZ442", 0.7), ("BXYZ442", 0.25)),
    ) -> Hit:
        """A hit on a text the readers doubted (8 read, B 25 % likely: rule n-best), recorded
        as the pipeline records one."""
        read = make_read(text, unit=UNIT, state=state, state_confidence=state_confidence)
        match = self.daemon.hotlist.match(read.text, read.state, candidates=candidates)[0]
        hit = Hit(
            str(uuid.uuid4()),
            read.id,
            match.entry,
            match.rule,
            read.utc,
            match.differs,
            match.state_rule,
            state,
            state_confidence,
            match.candidate,
            match.probability,
        )
        self.daemon.pipeline.record(read, [hit])
        return hit

    def hq_records(self, kind: str) -> list[dict]:
        return self.hq.store.bodies(kind)  # opened: HQ seals them at rest

    def stop(self):
        self.daemon.stop_event.set()
        self.thread.join(10)
        self.hq.stop()


@pytest.fixture
def car(broker, tmp_path):
    c = Car(broker, tmp_path)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 800, "height": 480})
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def sign_in(page, car, badge, pin):
    page.goto(car.url)
    page.fill("#badge", badge)
    page.fill("#pin", pin)
    page.click("#signin-form button[type=submit]")


def officer_sees_a_hit(page, car) -> Hit:
    """Officer 1001 signed in, the page live, a hit on a doubted character on the screen."""
    sign_in(page, car, "1001", "1234")
    page.wait_for_selector("#status.ok")
    hit = car.hit()
    page.wait_for_selector("#alert:not([hidden])", timeout=5000)
    return hit


# Whatever the screen shows must lie inside the viewport: no control below the fold, nothing
# squeezed or cut off at the side; the alert's own box must not overflow; its controls are
# touch targets of 64 px at least.
OVERFLOW_JS = """() => {
  const bad = [], vw = innerWidth, vh = innerHeight, px = Math.round;
  const wide = document.documentElement.scrollWidth;
  if (wide > vw) bad.push(`page ${wide} px wide`);
  const fixed = document.querySelectorAll(
    "header, header *, #banner, #alert:not([hidden]), #alert:not([hidden]) *");
  for (const e of fixed) {
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(e).visibility === "hidden") continue;
    if (r.right > vw + 0.5 || r.bottom > vh + 0.5 || r.left < -0.5 || r.top < -0.5)
      bad.push(`${e.id || e.className || e.tagName} at ` +
               `${px(r.left)},${px(r.top)}-${px(r.right)},${px(r.bottom)}`);
  }
  const a = document.getElementById("alert");
  if (!a.hidden) {
    if (a.scrollHeight > a.clientHeight + 1)
      bad.push(`alert content ${a.scrollHeight} px in ${a.clientHeight} px`);
    for (const b of a.querySelectorAll("button")) {
      const h = b.getBoundingClientRect().height;
      if (h && h < 64) bad.push(`button "${b.textContent.trim()}" ${px(h)} px high`);
    }
  }
  return bad;
}"""


def fits(page, name: str) -> None:
    """The screen fits 800x480 (the check above); photographed as name."""
    page.wait_for_timeout(100)  # layout settles; the flash only changes a colour
    assert page.evaluate(OVERFLOW_JS) == [], name
    shot(page, name)
