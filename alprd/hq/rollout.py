"""Model bundles to the fleet, staged and reversible (#37 item 5; the car's side is
alprd.recognize.updates, the wire format alprd.protocol.bundle).

HQ keeps each bundle it made (FOLDER/VERSION.bundle) and what it asked of each car
(FOLDER/rollout.json). A car's bundle is the retained message on PREFIX/UNIT/models: what HQ
wants that car to read with. A new version goes to a canary group first; `promote` sends it to
the rest only after it has run on the canaries for the hold time and their officers' verdicts
on its hits (alprd.hq.quality, by model) misread no more than the version before it did, plus
a margin; `rollback` gives every car (or those named) the bundle it had before, or, where it
had none, withdraws HQ's bundle, and the car returns to its package's own models.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from alprd.protocol.bundle import VERSION_RE, pack

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from alprd.hq.store import RecordStore

log = logging.getLogger(__name__)
MIN_CANARY_VERDICTS = 5  # fewer verdicts on the canaries say nothing of a model
MARGIN = 0.05  # a new model may misread this much more than the one before it, no more


class RolloutRefused(Exception):
    """A step the rollout will not take now; the message says why."""


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, retain: bool, timeout: float = 10.0) -> None: ...


class Rollout:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.state_path = self.folder / "rollout.json"
        self.state: dict[str, Any] = (
            json.loads(self.state_path.read_text())
            if self.state_path.exists()
            else {"units": {}, "canary": {}}
        )

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.state_path)

    def add(self, models: Path, version: str, key: Ed25519PrivateKey) -> int:
        """Bundle and sign the model files in `models` as `version`; its size in bytes."""
        path = self.folder / f"{version}.bundle"
        if path.exists():
            raise RolloutRefused(
                f"version {version} exists already: give the new models a new name"
            )
        wire = pack(models, version, key)
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(wire)
        return len(wire)

    def _bundle(self, version: str) -> bytes:
        if not VERSION_RE.match(version) or not (self.folder / f"{version}.bundle").exists():
            raise RolloutRefused(f"no bundle {version} at HQ (alprd hq models add)")
        return (self.folder / f"{version}.bundle").read_bytes()

    def _send(self, hq: Publisher, version: str, units: list[str]) -> None:
        wire = self._bundle(version)
        for unit in units:
            hq.publish(f"{unit}/models", wire, retain=True)
            history = self.state["units"].setdefault(unit, [])
            self.state["units"][unit] = [v for v in history if v != version] + [version]
        self._save()

    def canary(self, hq: Publisher, version: str, units: list[str], now: datetime) -> None:
        """Send `version` to the canary group alone."""
        if not units:
            raise RolloutRefused("name the canary cars")
        self._send(hq, version, units)
        self.state["canary"][version] = {"units": units, "utc": now.isoformat()}
        self._save()
        log.info("hq: models %s sent to the canary group %s", version, ", ".join(units))

    def promote(
        self,
        hq: Publisher,
        store: RecordStore,
        version: str,
        fleet: list[str],
        now: datetime,
        hold: timedelta,
    ) -> list[str]:
        """Send `version` to the rest of the fleet, if its canaries held; the cars sent to."""
        from alprd.hq.quality import quality

        canary = self.state["canary"].get(version)
        if canary is None:
            raise RolloutRefused(f"{version} has not been on a canary group")
        since = datetime.fromisoformat(canary["utc"])
        if now - since < hold:
            left = hold - (now - since)
            raise RolloutRefused(f"{version} has run on its canaries {now - since}; {left} to go")
        by_model = quality(store)["by_model"]
        new = by_model.get(version)
        if new is None or new["confirmed"] + new["misread"] < MIN_CANARY_VERDICTS:
            got = 0 if new is None else new["confirmed"] + new["misread"]
            raise RolloutRefused(
                f"{version}: {got} verdicts on the canaries' hits, {MIN_CANARY_VERDICTS} needed"
            )
        before = [by_model[v]["misread_rate"] for v in by_model if v != version]
        baseline = min(before) if before else 0.0
        if new["misread_rate"] > baseline + MARGIN:
            raise RolloutRefused(
                f"{version} misreads {round(100 * new['misread_rate'])} % of verified hits on "
                f"the canaries, the fleet's models {round(100 * baseline)} %: not promoted"
            )
        rest = [u for u in fleet if (self.state["units"].get(u) or [None])[-1] != version]
        self._send(hq, version, rest)
        log.info("hq: models %s promoted to %s", version, ", ".join(rest) or "nobody new")
        return rest

    def rollback(self, hq: Publisher, units: list[str] | None = None) -> dict[str, str]:
        """Every car named (all HQ sent models to, by default) back to the bundle before its
        current one, or its package's models; {unit: version now}."""
        out = {}
        for unit in units or sorted(self.state["units"]):
            history = self.state["units"].get(unit) or []
            if not history:
                continue
            history.pop()
            if history:
                hq.publish(f"{unit}/models", self._bundle(history[-1]), retain=True)
                out[unit] = history[-1]
            else:  # an empty retained message: HQ withdraws its bundle, the car goes back
                hq.publish(f"{unit}/models", b"", retain=True)
                out[unit] = "package"
        self._save()
        log.warning("hq: models rolled back: %s", out)
        return out
