"""Who may sign in on the vehicle: the roster HQ syncs (roster.py), roles (roles.py), sign-in
and sessions (auth.py)."""

from alprd.roster.auth import (
    FAILURE_WINDOW_S,
    LOCK_S,
    MAX_FAILURES,
    UNUSED_DAYS,
    Auth,
    Refused,
    Session,
)
from alprd.roster.roles import ROLE_NAMES, ROLES
from alprd.roster.roster import Roster, User

__all__ = [
    "FAILURE_WINDOW_S",
    "LOCK_S",
    "MAX_FAILURES",
    "UNUSED_DAYS",
    "ROLES",
    "ROLE_NAMES",
    "Auth",
    "Refused",
    "Roster",
    "Session",
    "User",
]
