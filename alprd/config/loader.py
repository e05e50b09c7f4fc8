"""Loading the configuration: TOML with environment overrides, validated strictly.

Unknown or mistyped keys are errors that name the key path and, where the key came from the
file, its line. Any key can be overridden by ``ALPRD_<SECTION>__<KEY>`` (value in TOML syntax,
or a bare string): ``ALPRD_UPLINK__BROKER=mqtt://127.0.0.1:1883``.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from alprd.config.sections import Config

DEFAULT_PATH = Path("/etc/alprd/alprd.toml")
ENV_PREFIX = "ALPRD_"


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\s\"]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"]+)\s*=")


def key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Map each key path in TOML text to its 1-based line (tables, arrays of tables, keys)."""
    lines: dict[tuple[Any, ...], int] = {}
    table: tuple[Any, ...] = ()
    counts: dict[tuple[Any, ...], int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            path = tuple(p.strip().strip('"') for p in m.group(2).split("."))
            if m.group(1) == "[[":
                idx = counts.get(path, -1) + 1
                counts[path] = idx
                table = path + (idx,)
            else:
                table = path
            lines.setdefault(table, n)
            continue
        m = _KEY.match(line)
        if m:
            lines.setdefault(table + (m.group(1).strip('"'),), n)
    return lines


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if any(not p for p in parts):
            continue
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


def _describe(
    err: ValidationError,
    source: str,
    lines: dict[tuple[Any, ...], int],
    env_paths: set[tuple[Any, ...]],
) -> str:
    msgs = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(str(p) for p in loc)
        where = ""
        if loc in env_paths:
            where = f" (from environment {ENV_PREFIX}{'__'.join(str(p).upper() for p in loc)})"
        else:
            for k in range(len(loc), 0, -1):
                if loc[:k] in lines:
                    where = f" ({source}, line {lines[loc[:k]]})"
                    break
        if e["type"] == "extra_forbidden":
            msgs.append(f"unknown key '{path}'{where}")
        elif e["type"] == "missing":
            msgs.append(f"missing key '{path}'{where}")
        else:
            msgs.append(f"bad value for '{path}'{where}: {e['msg']}")
    return "; ".join(msgs)


def _paths(d: dict[str, Any], prefix: tuple[Any, ...] = ()) -> set[tuple[Any, ...]]:
    out = set()
    for k, v in d.items():
        out.add(prefix + (k,))
        if isinstance(v, dict):
            out |= _paths(v, prefix + (k,))
    return out


def load(
    path: Path | None, environ: dict[str, str] | None = None, defaults: dict[str, Any] | None = None
) -> Config:
    """Load the config file (None = defaults only), apply env overrides, validate strictly."""
    environ = dict(os.environ) if environ is None else environ
    data: dict[str, Any] = _merge({}, defaults or {})
    lines: dict[tuple[Any, ...], int] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
        try:
            data = _merge(data, tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        lines = key_lines(text)
    env = _env_overrides(environ)
    data = _merge(data, env)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, lines, _paths(env))) from exc


def describe_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every key with its description, for `alprd config keys`."""
    out = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(describe_keys(ann, f"{prefix}{name}."))
        else:
            out.append(f"{prefix}{name}: {f.description or ''}")
    return out
