"""The demo's scenario: its assets, its embedded configuration and its user roster."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).parent / "assets"
CLIP = ASSETS / "clip.mp4"
TRACK = ASSETS / "track.nmea"
HOTLIST = ASSETS / "hotlist.csv"
PASSES = ASSETS / "passes.json"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "alprd" / "demo"


# what a run of the demo leaves in its state folder (the car's and HQ's), besides its keys
RUN_STATE = (
    "alprd.db*",
    "hq.db*",
    "hotlist.npz",
    "hotlist-received.txt",
    "roster.bin",
    "roster-last-use.json",
    "commands-seen.json",
    "signin-failures.json",
    "clock-floor",
    "control.sock",
    "tickets",
)


def start_fresh(state_dir: Path) -> bool:
    """Discard the last run's car and HQ state (RUN_STATE: databases, saved lists, tickets),
    keeping the demo's keys and anything else: a newcomer's first minute starts with no open
    alerts from an earlier run. True when there was something to discard."""
    import shutil

    gone = False
    for pattern in RUN_STATE:
        for p in state_dir.glob(pattern):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            gone = True
    return gone


def demo_defaults(state_dir: Path, loop: bool = True) -> dict[str, Any]:
    """The embedded configuration of the demo (environment overrides still apply)."""
    return {
        "vehicle": {"unit_id": "DEMO-1", "agency": "alprd demo"},
        "capture": {"cameras": [{"id": "rear", "source": str(CLIP), "loop": loop}]},
        "gps": {"port": str(TRACK), "replay_loop": loop, "replay_retime": True},
        "hotlist": {"path": str(HOTLIST)},
        "store": {
            "path": str(state_dir / "alprd.db"),
            "key_file": str(state_dir / "keys" / "data.key"),
        },
        "uplink": {
            "ca_file": str(state_dir / "keys" / "ca.crt"),
            "cert_file": str(state_dir / "keys" / "device.crt"),
            "key_file": str(state_dir / "keys" / "device.key"),
        },
        "ui": {"listen": "127.0.0.1:8080"},
    }


# Fictitious demo accounts, published by the demo's HQ as its roster (never used outside the
# demo): one per role, plus one deactivated and one untrained, to show the refusals.
DEMO_USERS = [
    # badge, name, role, PIN, trained, status
    ("1001", "Ofc. A. Demo", "patrol_officer", "1001", "2026-01-15", "active"),
    ("2002", "Det. B. Demo", "data_user", "2002", "2026-01-15", "active"),
    ("3003", "Adm. C. Demo", "administrator", "3003", "2026-01-15", "active"),
    ("4004", "Tech D. Demo", "fleet_technician", "4004", "2026-01-15", "active"),
    ("5005", "Ofc. E. Deactivated", "patrol_officer", "5005", "2025-06-01", "deactivated"),
    ("6006", "Ofc. F. Untrained", "patrol_officer", "6006", None, "active"),
]


def demo_roster() -> list[dict[str, Any]]:
    from alprd.protocol import roster_user

    return [roster_user(b, n, r, pin, t, status=st) for b, n, r, pin, t, st in DEMO_USERS]
