"""Logging to the console (stderr), with per-module levels from config."""

from __future__ import annotations

import logging
import sys
from typing import Any


def setup_logging(level: str = "INFO", levels: dict[str, Any] | None = None) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger().setLevel(level)
    for name, lvl in (levels or {}).items():
        logging.getLogger(name).setLevel(lvl)
