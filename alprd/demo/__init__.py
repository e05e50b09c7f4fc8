"""The bundled demo: a replayed clip, a recorded GPS track, a small hotlist, a local broker and
the reference HQ endpoint, all started by `alprd demo`. No hardware needed.

The assets are made by train/make_demo.py (procedural scenes with synthetic plates; nothing
from third parties), and assets/passes.json holds the clip's ground truth.
"""
from __future__ import annotations

import os
from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
CLIP = ASSETS / "clip.mp4"
TRACK = ASSETS / "track.nmea"
HOTLIST = ASSETS / "hotlist.csv"
PASSES = ASSETS / "passes.json"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "alprd" / "demo"


def demo_defaults(state_dir: Path, loop: bool = True) -> dict:
    """The embedded configuration of the demo (environment overrides still apply)."""
    return {
        "vehicle": {"unit_id": "DEMO-1", "agency": "alprd demo"},
        "capture": {"cameras": [{"id": "rear", "source": str(CLIP), "loop": loop}]},
        "gps": {"port": str(TRACK), "replay_loop": loop},
        "hotlist": {"path": str(HOTLIST)},
        "store": {"path": str(state_dir / "alprd.db"),
                  "key_file": str(state_dir / "keys" / "data.key")},
        "uplink": {"ca_file": str(state_dir / "keys" / "ca.crt"),
                   "cert_file": str(state_dir / "keys" / "device.crt"),
                   "key_file": str(state_dir / "keys" / "device.key")},
        "ui": {"listen": "127.0.0.1:8080"},
    }
