"""What alprd needs at run time, per target machine, resolved by pip for that machine without
being on it: `pip install --dry-run --only-binary=:all: --platform ... --python-version 3.11`.

Targets: amd64 (Debian 12) and arm64 (Raspberry Pi OS bookworm, with the Pi's constraints:
constraints/pi.txt). Used by tests/test_resolution.py and by build_deb.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GLIBC = ["2_17", "2_27", "2_28", "2_31", "2_34", "2_35"]  # Debian 12 has glibc 2.36
TARGETS = {
    "amd64": {
        "platforms": ["manylinux2014_x86_64"] + [f"manylinux_{g}_x86_64" for g in GLIBC],
        "constraints": [],
    },
    "arm64": {
        "platforms": ["manylinux2014_aarch64"] + [f"manylinux_{g}_aarch64" for g in GLIBC],
        "constraints": [REPO / "constraints" / "pi.txt"],
    },
}
PYTHON = "3.11"


class IndexUnreachable(RuntimeError):
    """No package index answered: the resolution could not be tried."""


def runtime_requirements() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


def pip_target_args(arch: str) -> list[str]:
    """pip's options that make it choose wheels for arch, CPython 3.11."""
    t = TARGETS[arch]
    args = [
        "--only-binary=:all:",
        "--python-version",
        PYTHON,
        "--implementation",
        "cp",
        "--abi",
        "cp311",
    ]
    for p in t["platforms"]:
        args += ["--platform", p]
    for c in t["constraints"]:
        args += ["-c", str(c)]
    return args


def resolve(arch: str, requirements: list[str] | None = None) -> dict[str, str]:
    """{package name: version} pip would install for arch; RuntimeError naming what failed,
    IndexUnreachable when no index answered."""
    reqs = requirements or runtime_requirements()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "-q",
                "--disable-pip-version-check",
                "--target",
                str(Path(tmp) / "t"),
                "--report",
                str(report),
                *pip_target_args(arch),
                *reqs,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if res.returncode != 0:
            err = res.stderr
            if any(
                w in err
                for w in (
                    "NewConnectionError",
                    "Temporary failure in name",
                    "Max retries exceeded",
                    "Network is unreachable",
                )
            ):
                raise IndexUnreachable(err.strip().splitlines()[-1])
            raise RuntimeError(
                f"{arch}: pip cannot resolve the runtime dependencies:\n" + err[-3000:]
            )
        items = json.loads(report.read_text())["install"]
    return {
        i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"] for i in items
    }


if __name__ == "__main__":
    for arch in sys.argv[1:] or list(TARGETS):
        found = resolve(arch)
        print(f"{arch}: {len(found)} packages")
        for name, version in sorted(found.items()):
            print(f"  {name}=={version}")
