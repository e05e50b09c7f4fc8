"""The bundled demo: a replayed clip, a recorded GPS track, a small hotlist, a local broker and
the reference HQ endpoint, all started by `alprd demo`. No hardware needed.

The assets are made by train/make_demo.py (procedural scenes with synthetic plates; nothing
from third parties), and assets/passes.json holds the clip's ground truth.
"""

from alprd.demo.scenario import (
    ASSETS,
    CLIP,
    DEMO_USERS,
    HOTLIST,
    PASSES,
    TRACK,
    default_state_dir,
    demo_defaults,
    demo_roster,
    start_fresh,
)

__all__ = [
    "ASSETS",
    "CLIP",
    "DEMO_USERS",
    "HOTLIST",
    "PASSES",
    "TRACK",
    "default_state_dir",
    "demo_defaults",
    "demo_roster",
    "start_fresh",
]
