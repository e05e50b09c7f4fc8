"""The four roles and what each may do (POL-06)."""

from __future__ import annotations

# What each role may do (POL-06). No role may add, change or delete a read or the hotlist:
# the page has no such action at all.
ROLES = {
    "patrol_officer": frozenset({"live", "verify"}),
    "data_user": frozenset({"live", "verify", "search", "view"}),
    "administrator": frozenset({"live", "verify", "search", "view", "export", "selftest"}),
    "fleet_technician": frozenset({"selftest"}),
}
ROLE_NAMES = {
    "patrol_officer": "Patrol officer",
    "data_user": "Data user",
    "administrator": "System administrator",
    "fleet_technician": "Fleet technician",
}
