"""Who may search ALPR data at HQ, and with what (POL-02, POL-10).

A search needs one of the six purposes; logically deleted data is for an administrator alone,
with a listed ground and the approved Form 15.02.00 reference. Every search, allowed or
refused, is written to HQ's access log (alprd.hq.records).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable

from alprd.protocol import PURPOSES

# When logically deleted data may be searched (POL-10; Department Manual 3/568.53): one of these
# grounds, approved on an Intradepartmental Correspondence, Form 15.02.00, whose reference
# the administrator gives.
DELETED_SEARCH_GROUNDS = {
    "serious_or_violent_felony": "Serious felony (PC 1192.7(c)) or violent felony (PC 667.5(c))",
    "witness_intimidation": "PC 136.1 intimidation of witnesses and victims (aggravated)",
    "human_trafficking": "PC 236.1 human trafficking",
    "protective_order": "PC 273.6(a) violation of a protective order",
    "stalking": "PC 646.9 stalking",
    "sex_offender_registration": "PC 290(c) sex offender registration",
    "terrorism": "Terrorist activity (Department Manual 4/271.46)",
    "court_order": "Pursuant to a court order",
}


class AccessRefused(Exception):
    """A search the policy does not allow; the message says why (and it is logged)."""


def refusal(
    role: str, purpose: str, include_deleted: bool, ground: str | None, request_ref: str | None
) -> str | None:
    """Why the policy refuses this search, or None when it is allowed."""
    if role not in ("data_user", "administrator"):
        return f"role {role!r} may not search ALPR data"
    if purpose not in PURPOSES:
        return "a search needs one of the six authorised purposes"
    if include_deleted and role != "administrator":
        return "only an ALPR system administrator may search logically deleted data"
    if include_deleted and ground not in DELETED_SEARCH_GROUNDS:
        return "searching logically deleted data needs one of the listed grounds"
    if include_deleted and not (request_ref or "").strip():
        return "searching logically deleted data needs the approved Form 15.02.00 reference"
    return None


def access_row(
    utc: str | datetime,
    username: str,
    role: str,
    purpose: str,
    plate: str,
    include_deleted: bool,
    ground: str | None,
    request_ref: str | None,
    found: int,
    why: str | None,
    seal: Callable[[str], str] = lambda text: text,
    state: str | None = None,
) -> tuple[Any, ...]:
    """The access log's row for a search, allowed or refused (both back ends); seal: seals
    the query (the plate searched for, and the state where one was given) at rest, as the
    store's bodies."""
    query = {"plate": plate, **({"state": state} if state else {})}
    return (
        utc,
        username,
        role,
        "search_deleted" if include_deleted else "search",
        purpose,
        seal(json.dumps(query)),
        ground,
        request_ref,
        None if why else found,
        why,
    )


def in_state(body: dict[str, Any], state: str | None) -> bool:
    """Whether a read answers a search for a plate of `state` (None: any): read as that
    state, or its state not read (it may be that state); a read named as another state is
    another car."""
    return state is None or body.get("state") in (None, state)
