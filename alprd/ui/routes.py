"""The in-car page's requests: one handler class, a method per route.

Every request but the page's own files needs a session (POL-04); what a session may do is its
role's (POL-06). A state-changing request needs the session's CSRF token in `X-CSRF-Token`.
Every access to stored data needs one of the six purposes and is audited before the data is
returned (POL-02, POL-17).
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import re
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alprd.alert import DISPOSITIONS, STEPS, AlertError
from alprd.protocol import PURPOSES
from alprd.roster import Refused
from alprd.store import StoreError
from alprd.types import PLATE_RE
from alprd.ui.events import SUMMARY_FIELDS, alert_event
from alprd.ui.jsonhttp import COOKIE, HttpError, JsonHandler

if TYPE_CHECKING:
    from alprd.roster import Session
    from alprd.ui.server import App

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}
PLATE_EVENTS = {"read", "hit", "alert", "cancel"}  # carry plate data: "live" roles only


def _read_summary(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in SUMMARY_FIELDS}


class Handler(JsonHandler):
    """One request to the in-car page: a method per route (jsonhttp.JsonHandler: the HTTP)."""

    @property
    def app(self) -> App:
        """What the API works with; a page served without one (a test) signs nobody in."""
        if self.page.app is None:
            raise HttpError(401, "sign in first")
        return self.page.app

    def _session(self, need: str | None = None) -> Session:
        app = self.page.app
        s = app.auth.session(self._token()) if app else None
        if s is None:
            ended = app.auth.ended.get(self._token() or "") if app else None
            raise HttpError(401, "sign in first", ended=ended)
        if need and not s.may(need):
            raise HttpError(403, f"your role ({s.role}) may not do this")
        return s

    def _dispatch(self, routes: dict[str, Any]) -> None:
        path = self.path.split("?", 1)[0]
        fn = routes.get(path)
        try:
            if fn is None:
                if path.startswith("/tickets/") and self.command == "GET":
                    return self._ticket(path)
                raise HttpError(404, "not found")
            fn()
        except HttpError as exc:
            self._json(exc.status, {"error": str(exc), **exc.extra})
        except StoreError as exc:  # no access without its audit record
            log.error("ui: %s", exc)
            self._json(
                503,
                {
                    "error": "cannot record this access (storage problem); "
                    "nothing was shown. Call the ALPR system administrator."
                },
            )
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- GET ---------------------------------------------------------------------
    def do_GET(self) -> None:
        if not self._known_host():
            return
        if self.path in FILES:
            name, ctype = FILES[self.path]
            return self._send(200, (STATIC / name).read_bytes(), ctype)
        self._dispatch(
            {
                "/health": self._health,
                "/events": self._events,
                "/api/me": self._me,
                "/api/alerts": self._alerts,
                "/api/options": self._options,
            }
        )

    def _health(self) -> None:
        """Whether the daemon is up, for anyone; the car's state (position, counts) only for a
        signed-in user."""
        app = self.page.app
        if app is None or app.auth.session(self._token()) is None:
            return self._json(200, {"up": True})
        self._json(200, self.page.health())

    def _me(self) -> None:
        self._json(200, self._session().public())

    def _alerts(self) -> None:
        self._session("live")
        self._json(200, [alert_event(a) for a in self.app.alerts.current()])

    def _options(self) -> None:
        self._session()
        self._json(
            200,
            {
                "purposes": PURPOSES,
                "steps": STEPS,
                "dispositions": DISPOSITIONS,
                "unit_id": self.app.unit_id,
            },
        )

    def _events(self) -> None:
        token = self._token()
        s = self._session()
        live = s.may("live")
        q, recent = self.page.bus.subscribe()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            for old in recent:
                if old["type"] == "status" or (live and old["type"] in ("read", "hit")):
                    self.wfile.write(f"data: {json.dumps(old)}\n\n".encode())
            self.wfile.flush()
            while not self.page.stopping.is_set():
                ev: dict[str, Any] | None
                try:
                    ev = q.get(timeout=1.0)
                except queue.Empty:
                    ev = None
                if self.app.auth.session(token, touch=False) is None:  # roster, idle
                    why = self.app.auth.ended.get(token or "", "signed_out")
                    ev = {"type": "signed_out", "reason": why}
                    self.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
                    self.wfile.flush()
                    return
                if ev is None:
                    self.wfile.write(b": keepalive\n\n")
                elif ev["type"] not in PLATE_EVENTS or live:
                    self.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        finally:
            self.page.bus.unsubscribe(q)

    def _ticket(self, path: str) -> None:
        self._session("selftest")
        name = path.rsplit("/", 1)[-1]
        folder = self.app.tickets_dir
        if not (
            folder
            and re.fullmatch(r"ticket-[0-9A-Za-z.+-]+\.html", name)
            and (folder / name).is_file()
        ):
            raise HttpError(404, "no such ticket")
        self._send(200, (folder / name).read_bytes(), "text/html; charset=utf-8")

    # -- POST --------------------------------------------------------------------
    def do_POST(self) -> None:
        if not self._known_host():
            return
        self._dispatch(
            {
                "/api/signin": self._signin,
                "/api/signout": self._signout,
                "/api/alerts/ack": self._alert_action,
                "/api/alerts/step": self._alert_action,
                "/api/alerts/dispose": self._alert_action,
                "/api/search": self._search,
                "/api/view": self._view,
                "/api/export": self._export,
                "/api/selftest": self._selftest,
            }
        )

    def do_PUT(self) -> None:
        self._json(405, {"error": "ALPR data cannot be changed from the car (POL-06)"})

    do_DELETE = do_PATCH = do_PUT

    def _post_session(self, need: str | None = None) -> Session:
        self._same_origin()
        s = self._session(need)
        if self.headers.get("X-CSRF-Token") != s.csrf:
            raise HttpError(403, "missing or wrong CSRF token: reload the page")
        return s

    def _signin(self) -> None:
        self._same_origin()
        body = self._body()
        try:
            s = self.app.auth.sign_in(str(body.get("badge") or ""), str(body.get("pin") or ""))
        except Refused as exc:
            raise HttpError(403, str(exc), code=exc.code) from exc
        cookie = f"{COOKIE}={s.token}; HttpOnly; SameSite=Strict; Path=/" + (
            "; Secure" if self.page.tls else ""
        )
        self._json(200, s.public(), {"Set-Cookie": cookie})

    def _signout(self) -> None:
        s = self._post_session()
        self.app.auth.sign_out(s.token)
        self._json(200, {"signed_out": True}, {"Set-Cookie": f"{COOKIE}=; Max-Age=0; Path=/"})

    def _alert_action(self) -> None:
        s = self._post_session("verify")
        body = self._body()
        alerts = self.app.alerts
        hit_id = str(body.get("hit_id") or "")
        kind = self.path.rsplit("/", 1)[-1]
        try:
            if kind == "ack":
                ev = alerts.acknowledge(hit_id, s)
            elif kind == "step":
                ev = alerts.step(hit_id, str(body.get("step")), s)
            else:
                ev = alerts.dispose(
                    hit_id,
                    str(body.get("disposition")),
                    s,
                    str(body.get("note") or ""),
                    str(body.get("corrected_text") or "") or None,
                )
        except AlertError as exc:
            raise HttpError(409, str(exc)) from exc
        self._json(200, alert_event(ev))

    def _purpose(self, body: dict[str, Any]) -> str:
        purpose = body.get("purpose")
        if purpose not in PURPOSES:
            raise HttpError(
                400, "choose one of the six authorised purposes (POL-02)", purposes=list(PURPOSES)
            )
        return str(purpose)

    def _query(self, body: dict[str, Any]) -> dict[str, Any]:
        plate = str(body.get("plate") or "").upper().replace(" ", "")
        if plate and not PLATE_RE.match(plate):
            raise HttpError(400, "plate: letters and digits only, up to 8")
        q = {
            "plate": plate or None,
            "since": body.get("since") or None,
            "until": body.get("until") or None,
        }
        for k in ("since", "until"):
            if q[k] is not None and not re.fullmatch(r"\d{4}-\d\d-\d\d[T0-9:.Z+-]*", str(q[k])):
                raise HttpError(400, f"{k}: use an ISO date, e.g. 2026-11-28")
        return {k: v for k, v in q.items() if v is not None}

    def _audited_search(
        self, action: str, limit: int
    ) -> tuple[Session, str, dict[str, Any], list[dict[str, Any]]]:
        """A search for a role allowed `action`: its purpose, its query, its results,
        audited before anything is returned."""
        s = self._post_session(action)
        body = self._body()
        purpose, query = self._purpose(body), self._query(body)
        try:
            found = self.app.store.search(limit=limit, **query)
        except ValueError as exc:
            raise HttpError(400, f"{exc}: use an ISO date, e.g. 2026-11-28") from exc
        self.app.audit.append(
            s.badge, s.role, action, purpose=purpose, query=query, result_count=len(found)
        )
        return s, purpose, query, found

    def _search(self) -> None:
        found = self._audited_search("search", 200)[3]
        self._json(200, {"results": [_read_summary(r) for r in found]})

    def _view(self) -> None:
        s = self._post_session("view")
        body = self._body()
        purpose = self._purpose(body)
        r = self.app.store.read(str(body.get("id") or ""))
        self.app.audit.append(
            s.badge,
            s.role,
            "view_read",
            purpose=purpose,
            query={"read_id": str(body.get("id") or "")[:64], "plate": r["text"] if r else None},
            result_count=1 if r else 0,
        )
        if r is None:
            raise HttpError(404, "no such read (purged after HQ acknowledged it?)")
        self._json(
            200,
            {
                **_read_summary(r),
                "bbox": r["bbox"],
                "crop": "data:image/jpeg;base64," + base64.b64encode(r["crop"]).decode(),
            },
        )

    def _export(self) -> None:
        s, purpose, query, found = self._audited_search("export", 10000)
        out = {
            "unit_id": self.app.unit_id,
            "exported_by": s.badge,
            "purpose": purpose,
            "query": query,
            "reads": [
                {**_read_summary(r), "crop_jpeg_b64": base64.b64encode(r["crop"]).decode()}
                for r in found
            ],
        }
        self._json(200, out, {"Content-Disposition": 'attachment; filename="alprd-export.json"'})

    def _selftest(self) -> None:
        s = self._post_session("selftest")
        if self.app.selftest is None:
            raise HttpError(503, "self-test is not available here")
        self._json(200, self.app.selftest(s))
