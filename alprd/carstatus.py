"""The car's state as the officer sees it: one entry per part (cameras, GPS, the link to HQ,
the hotlist), each ok, warn or fail, with the few words a chip shows and, when it is not ok,
the sentence that names the failure and what to do.

It reads only the health report's plain figures (alprd.supervise.Health), so the page's strip,
its red banner and HQ's fleet flags say the same thing. Intervals are monotonic: a GPS lost
in a tunnel or a broker down for a minute is a warning first, a failure when it lasts.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from alprd.clock import span

OK, WARN, FAIL = "ok", "warn", "fail"
PARTS = ("camera", "gps", "uplink", "hotlist")
NO_PICTURE_S = 20.0  # a running camera with no frame for this long is failing
READS_WINDOW_S = 300.0  # "reads in the last 5 minutes"
GPS_FAIL_AFTER_S = 60.0  # no fix for this long: a failure (shorter: a tunnel, a warning)
HQ_WARN_AFTER_S = 15.0  # connecting for longer than this: a warning
HQ_FAIL_AFTER_S = 1800.0  # no link to HQ for this long: a failure


def _part(level: str, text: str, problem: str = "") -> dict[str, str]:
    return {"level": level, "text": text, "problem": problem}


class CarStatus:
    """report: the car's health report (a dict of plain figures); now() says each part's
    state. Keeps the few samples it needs to count reads over a window and to time an outage."""

    def __init__(
        self, report: Callable[[], dict[str, Any]], mono: Callable[[], float] = time.monotonic
    ) -> None:
        self.report, self.mono = report, mono
        self._reads: deque[tuple[float, int]] = deque()
        self._since: dict[str, float] = {}  # part -> when its current outage began
        self._lock = threading.Lock()  # the main loop (page) and the uplink (HQ) both ask

    def now(self) -> dict[str, dict[str, str]]:
        r = self.report()
        with self._lock:
            t = self.mono()
            return {
                "camera": self._cameras(r.get("cameras") or {}, int(r.get("reads") or 0), t),
                "gps": self._gps(r.get("gps") or {}, t),
                "uplink": self._uplink(r.get("uplink") or {}, r.get("outbox"), t),
                "hotlist": self._hotlist(r.get("hotlist") or {}),
            }

    def _outage(self, part: str, down: bool, t: float) -> float:
        """How long the part has been down (0 when it is not)."""
        if not down:
            self._since.pop(part, None)
            return 0.0
        return t - self._since.setdefault(part, t)

    def _recent_reads(self, total: int, t: float) -> int:
        self._reads.append((t, total))
        while len(self._reads) > 1 and t - self._reads[1][0] >= READS_WINDOW_S:
            self._reads.popleft()
        return total - self._reads[0][1]

    def _cameras(self, cams: dict[str, dict[str, Any]], reads: int, t: float) -> dict[str, str]:
        recent = self._recent_reads(reads, t)
        if not cams:
            return _part(FAIL, "CAM none", "No camera configured: no plates are being read.")
        for cid, c in cams.items():
            state, age = c.get("state"), c.get("frame_age_s")
            if state not in ("running", "finished"):
                why = f": {c['why']}" if c.get("why") else ""
                return _part(
                    FAIL,
                    f"CAM {cid} down",
                    f"Camera {cid} is not working ({state}{why}): no plates are read from it. "
                    "Tell the fleet technician.",
                )
            if state == "running" and (age is None or age > NO_PICTURE_S):
                return _part(
                    FAIL,
                    f"CAM {cid} no picture",
                    f"Camera {cid} has sent no picture for "
                    f"{span(age) if age is not None else 'a while'}: no plates are read from "
                    "it. Tell the fleet technician.",
                )
        if all(c.get("state") == "finished" for c in cams.values()):
            return _part(WARN, "CAM ended", "The recording being replayed has ended.")
        return _part(OK, f"CAM {recent} reads/5 min")

    def _gps(self, gps: dict[str, Any], t: float) -> dict[str, str]:
        if gps.get("state") in (None, "none"):
            # configured so (as the self-test says, a warning): no fix can be lost
            return _part(WARN, "GPS none", "No GPS receiver configured: reads have no position.")
        down = self._outage("gps", bool(gps.get("stale")) or not gps.get("fix"), t)
        if not down and (gps.get("stale") is False and gps.get("fix")):
            return _part(OK, "GPS fix")
        level = FAIL if down >= GPS_FAIL_AFTER_S else WARN
        return _part(
            level,
            "GPS no fix",
            f"No GPS fix for {span(down)}: reads have no position."
            + (" Tell the fleet technician if it lasts." if level == FAIL else ""),
        )

    def _uplink(self, up: dict[str, Any], outbox: Any, t: float) -> dict[str, str]:
        waiting = f"{outbox} waiting" if isinstance(outbox, int) and outbox else ""
        if up.get("configured") is False:
            return _part(WARN, "HQ none", "No HQ broker configured: nothing is sent to HQ.")
        down = self._outage("uplink", not up.get("connected"), t)
        if up.get("connected"):
            return _part(OK, f"HQ {outbox} wait" if waiting else "HQ ✓")
        if down < HQ_WARN_AFTER_S:
            return _part(OK, "HQ connecting")
        level = FAIL if down >= HQ_FAIL_AFTER_S else WARN
        return _part(
            level,
            f"HQ offline {span(down)}",
            f"No link to HQ for {span(down)}: reads and hits wait in the car"
            + (f" ({waiting})" if waiting else "")
            + "; hotlist changes do not arrive.",
        )

    @staticmethod
    def _hotlist(hl: dict[str, Any]) -> dict[str, str]:
        age = hl.get("age_s")
        if hl.get("version") is None and hl.get("stale") is None:
            return _part(WARN, "LIST local", "The hotlist is a local file, not synced from HQ.")
        if hl.get("stale"):
            return _part(
                FAIL,
                "LIST OUT OF DATE",
                "HOTLIST OUT OF DATE: hits may be missing; cancelled wants may still show. "
                "Tell dispatch.",
            )
        if not hl.get("entries"):
            return _part(WARN, "LIST empty", "The hotlist is empty: no hit can alert.")
        return _part(OK, f"LIST {span(age)}" if isinstance(age, (int, float)) else "LIST")


def levels(status: dict[str, dict[str, str]]) -> dict[str, str]:
    """{part: level}: what the car tells HQ's fleet view."""
    return {p: s["level"] for p, s in status.items()}


def problems(status: dict[str, dict[str, str]]) -> list[str]:
    """The failures, worst first: what the red banner and HQ's flags name."""
    rank = {FAIL: 0, WARN: 1}
    bad = [s for s in status.values() if s["level"] != OK]
    return [s["problem"] for s in sorted(bad, key=lambda s: rank[s["level"]]) if s["problem"]]
