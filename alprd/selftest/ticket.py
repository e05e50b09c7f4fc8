"""Motor Vehicle Trouble Ticket, Form 11.03.00 (POL-19): prepared from a self-test.

Saved as a print view (HTML, print it from any browser) and as JSON in the state folder, and
queued in the outbox for fleet services; HQ acknowledges it like any record.
"""

from __future__ import annotations

import html
import json
import uuid
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alprd.files import replace_atomically

if TYPE_CHECKING:
    from alprd.config import Config
    from alprd.selftest.checks import Result

FORM = "11.03.00"


def make(cfg: Config, results: list[Result], employee: str) -> dict[str, Any]:
    gps = next((r for r in results if r.component == "gps"), None)
    place = (
        {"lat": gps.details["lat"], "lon": gps.details["lon"]}
        if gps and "lat" in gps.details
        else None
    )
    failed = [r for r in results if r.status == "fail"]
    return {
        "id": str(uuid.uuid4()),
        "form": FORM,
        "title": "Motor Vehicle Trouble Ticket",
        "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "agency": cfg.vehicle.agency,
        "unit_id": cfg.vehicle.unit_id,
        "vehicle": cfg.vehicle.unit_id,
        "reporting_employee": employee,
        "place": place,
        "components": [{"component": r.component, "symptom": r.symptom} for r in failed],
        "diagnostics": [asdict(r) for r in results],
    }


def plain(details: dict[str, Any]) -> str:
    """A check's details as a technician reads them: 'frames: 0; last frame: none'."""
    words = []
    for k, v in details.items():
        shown = "none" if v is None else ", ".join(map(str, v)) if isinstance(v, list) else v
        words.append(f"{k.replace('_', ' ')}: {shown}")
    return "; ".join(words) or "-"


def render_html(t: dict[str, Any]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(d['component'])}</td><td>{e(d['status'].upper())}</td>"
        f"<td>{e(d['symptom'])}</td><td>{e(plain(d['details']))}</td></tr>"
        for d in t["diagnostics"]
    )
    failed = (
        "".join(f"<li><b>{e(c['component'])}</b>: {e(c['symptom'])}</li>" for c in t["components"])
        or "<li>none (ticket on request)</li>"
    )
    place = f"{t['place']['lat']}, {t['place']['lon']}" if t["place"] else "no GPS fix"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Form {FORM} {e(t["unit_id"])} {e(t["utc"])}</title>
<style>body{{font:12pt serif;margin:2cm}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #000;padding:4px;vertical-align:top}}code{{font-size:9pt}}
.sig{{margin-top:2cm}}</style></head><body>
<h1>Motor Vehicle Trouble Ticket</h1><p>Form {FORM} &middot; ticket {e(t["id"])}</p>
<table><tr><th>Agency</th><td>{e(t["agency"])}</td><th>Vehicle / unit</th>
<td>{e(t["vehicle"])}</td></tr>
<tr><th>Reporting employee</th><td>{e(t["reporting_employee"])}</td><th>Date and time (UTC)</th>
<td>{e(t["utc"])}</td></tr><tr><th>Place</th><td colspan="3">{e(place)}</td></tr></table>
<h2>Failed component and symptom</h2><ul>{failed}</ul>
<h2>Diagnostics (alprd self-test)</h2>
<table><tr><th>Component</th><th>Status</th><th>Symptom</th><th>Details</th></tr>{rows}</table>
<p class="sig">Signature of reporting employee: ______________________ &nbsp; Badge: ________</p>
</body></html>
"""


def save(t: dict[str, Any], folder: Path) -> Path:
    """The ticket as JSON and as its print view, readable by the service's user alone (0600,
    in a 0700 folder): it holds the car's position."""
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = f"ticket-{t['utc'].replace(':', '')[:17]}-{t['id'][:8]}"
    replace_atomically(folder / f"{stem}.json", json.dumps(t, indent=1).encode(), 0o600)
    path = folder / f"{stem}.html"
    replace_atomically(path, render_html(t).encode(), 0o600)
    return path
