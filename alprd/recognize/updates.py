"""A new model bundle in the car (#37 item 5), taken without a restart and never blind.

A bundle from HQ (alprd.protocol.bundle: signed with HQ's key, each file's digest checked) is
written to STATE/models/VERSION/, loaded beside the models in use, and must read the
self-test's reference plate before it is used. Then the pipeline's recognizer is replaced
between two frames (one reference, swapped: the frame loop never waits on a load) and the
state reader, which is not in the bundle, is kept. A bundle that fails any of this is refused:
the models in use stay, and the refusal is said in one line and returned for HQ. The previous
bundle is kept: rollback() returns to it the same way.

The car remembers which models it uses (STATE/models/in_use.json) and keeps each bundle's
signed message beside its files: at the next start resume() takes the same bundle again,
its signature and digests checked again and the reference plate read again, so a car that
restarts out of coverage reads with the models HQ gave it, not the package's.

HQ sends a car its bundle as the retained message on PREFIX/UNIT/models (alprd.hq.rollout:
canary group first, promotion on field accuracy, rollback); an empty one there means HQ
withdrew its bundle, and the car returns to its package's models.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from alprd.files import replace_atomically
from alprd.protocol.bundle import VERSION_RE, unpack
from alprd.protocol.envelope import UpdateRefused
from alprd.recognize.recognizer import Recognizer, reads_reference
from alprd.recognize.runtime import ModelError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from alprd.config import RecognizeConfig

log = logging.getLogger(__name__)
KEEP = 2  # bundles kept on the car: the one in use and the one before it
IN_USE = "in_use.json"  # the versions used, oldest first: the last is the one in use
SIGNED = "bundle.signed"  # the bundle as HQ sent it, beside its files: checked at each start


class ModelRefused(Exception):
    """A bundle the car will not use; the message says why (for HQ's report)."""


class Reads(Protocol):
    """What reads plates with a recognizer, and names the models on each hit: the pipeline."""

    recognizer: Recognizer
    model: str


class ModelUpdates:
    def __init__(
        self,
        cfg: RecognizeConfig,
        pipeline: Reads,
        hq_key: Ed25519PublicKey,
        folder: Path,
        version: str,
        report: Callable[[dict[str, Any]], None] = lambda r: None,
    ) -> None:
        """folder: where bundles are kept (STATE/models); version: the models in use now;
        report: what the car did with a bundle from HQ, for HQ (a model_update report)."""
        self.cfg, self.pipeline, self.hq_key, self.folder = cfg, pipeline, hq_key, folder
        self.history = [version]  # versions used, oldest first; the last is in use
        self.package = version  # the package's own models (no bundle folder)
        self.report = report

    def receive(self, message: bytes) -> None:
        """A bundle from HQ (the inbox's thread, from the retained PREFIX/UNIT/models): apply
        it; an empty one (HQ withdrew its bundle) returns to the package's own models. HQ is
        told what was done (report model_update); a bundle already in use says nothing."""
        before = self.version
        try:
            if message:
                got, result = self.apply(message), "switched"
            else:
                got, result = self.package, "rolled_back"
                if before != self.package:
                    self._switch(self.package, None)
            why = ""
        except ModelRefused as exc:
            got, result, why = "?", "refused", str(exc)
        if got == before and result != "refused":
            return
        self.report(
            {"result": result, "version": got, "why": why[:500], "models_in_use": self.version}
        )

    @property
    def version(self) -> str:
        return self.history[-1]

    def apply(self, message: bytes) -> str:
        """Verify, store, load, self-test and switch to a bundle; its version. ModelRefused
        (the models in use stay) when any step fails."""
        try:
            manifest, files = unpack(message, self.hq_key)
        except UpdateRefused as exc:
            raise self._refuse("?", str(exc)) from exc
        version = str(manifest["version"])
        if version == self.version:
            return version
        target = self.folder / version
        tmp = self.folder / f".{version}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, blob in files.items():
            (tmp / name).write_bytes(blob)
        (tmp / SIGNED).write_bytes(message)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)  # a power cut leaves the whole bundle or a .partial folder
        try:
            self._switch(version, target)
        except ModelRefused:
            shutil.rmtree(target, ignore_errors=True)  # a refused bundle is not kept
            raise
        self._prune()
        return version

    def resume(self) -> None:
        """At start: the models in use when the car stopped, if they were a bundle from HQ.
        One that no longer verifies, loads or reads the reference plate is refused (said in
        one line, reported to HQ) and the package's models stay."""
        try:
            saved = json.loads((self.folder / IN_USE).read_text())["history"]
            history = [str(v) for v in saved if VERSION_RE.match(str(v))]
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("models: %s unreadable (%s): the package's models stay", IN_USE, exc)
            return
        if not history or history[-1] == self.package:
            return
        version = history[-1]
        kept = [v for v in history[:-1] if v == self.package or (self.folder / v).is_dir()]
        self.history = kept or [self.package]
        try:
            self.apply((self.folder / version / SIGNED).read_bytes())
        except OSError as exc:
            why = str(self._refuse(version, f"kept bundle unreadable at start: {exc}"))
        except ModelRefused as exc:
            why = str(exc)
        else:
            return
        self._remember()  # not again at the next start
        self.report(
            {
                "result": "refused",
                "version": version,
                "why": why[:500],
                "models_in_use": self.version,
            }
        )

    def rollback(self) -> str:
        """Back to the bundle used before this one (HQ's rollback); its version."""
        if len(self.history) < 2:
            raise ModelRefused("no earlier models on this car to go back to")
        previous = self.history[-2]
        self._switch(previous, None if previous == self.package else self.folder / previous)
        return previous

    def _switch(self, version: str, folder: Path | None) -> None:
        """Load (folder None: the package's own models), self-test, swap between frames."""
        try:
            new = Recognizer.from_config(self.cfg, bundle=folder)
        except (ModelError, OSError, ValueError) as exc:
            raise self._refuse(version, f"will not load: {exc}") from exc
        known, got = reads_reference(new)
        if known not in got:
            raise self._refuse(
                version, f"does not read the self-test's reference plate {known} (read {got[:3]})"
            )
        old = self.pipeline.recognizer
        new.take_state_reader(old)  # not in the bundle: keep the one loaded
        self.pipeline.recognizer = new  # one reference: the next frame is read with it
        self.pipeline.model = version  # and the hits it makes name it (HQ's field accuracy)
        self.history = ([v for v in self.history if v != version] + [version])[-KEEP:]
        self._remember()
        log.info("models: now %s (was %s), switched between frames", version, old_version(self))

    def _refuse(self, version: str, why: str) -> ModelRefused:
        log.error("models: bundle %s refused: %s; %s stays in use", version, why, self.version)
        return ModelRefused(f"bundle {version}: {why}")

    def _prune(self) -> None:
        """Bundle folders no longer in the history (it holds KEEP versions at most)."""
        for p in self.folder.iterdir():
            if p.is_dir() and p.name not in self.history and not p.name.startswith("."):
                shutil.rmtree(p, ignore_errors=True)

    def _remember(self) -> None:
        """The versions used, for resume() at the next start (whole or not at all)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        replace_atomically(self.folder / IN_USE, json.dumps({"history": self.history}).encode())


def old_version(u: ModelUpdates) -> str:
    return u.history[-2] if len(u.history) > 1 else "none"
