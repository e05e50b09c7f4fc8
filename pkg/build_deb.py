"""`./run deb`: the Debian packages alprd_<version>_amd64.deb and alprd_<version>_arm64.deb.

Built on any amd64 machine: the arm64 package is made of aarch64 wheels (pip chooses them for
the target, pkg/deps.py), so no arm64 machine is needed. Contents:
- /opt/alprd/venv: a virtual environment over Debian's /usr/bin/python3.11 (Raspberry Pi OS:
  with system site packages, for apt's python3-picamera2), alprd and its dependencies, the
  bytecode compiled at build time (nothing is written under /opt at run time);
- /usr/bin/alprd; the systemd units in /lib/systemd/system; the `alprd` system user from
  sysusers.d; /var/lib/alprd from tmpfiles.d; /etc/alprd/alprd.toml as a conffile;
- maintainer scripts that never start the service: `alprd provision` and the config come
  first (see firmware-notes.md).

    python -m pkg.build_deb [amd64] [arm64] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

from pkg.deps import REPO, pip_target_args

PY = "python3.11"
ELF_MACHINE = {"amd64": 0x3E, "arm64": 0xB7}  # e_machine: x86-64, AArch64
DEB_ARCH = {"amd64": "amd64", "arm64": "arm64"}

SYSUSERS = """\
# the service account (alprd.service runs as it); cameras and serial ports through its groups
u alprd - "alprd ALPR daemon" /var/lib/alprd /usr/sbin/nologin
m alprd video
m alprd dialout
"""
TMPFILES = """\
# the daemon's state: the encrypted store, the saved hotlist and roster, tickets (0700)
d /var/lib/alprd 0700 alprd alprd -
d /etc/alprd 0755 root root -
"""
LAUNCHER = """\
#!/opt/alprd/venv/bin/python3
import sys
sys.dont_write_bytecode = True  # /opt/alprd is the package's: compiled at build time
from alprd.cli import main
sys.exit(main())
"""
POSTINST = """\
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    systemd-sysusers alprd.conf >/dev/null 2>&1 || systemd-sysusers /usr/lib/sysusers.d/alprd.conf
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/alprd.conf || true
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
        # an upgrade restarts a running service; a first install starts nothing
        systemctl try-restart alprd.service || true
    fi
    if [ ! -e /etc/alprd/keys/data.key ]; then
        echo "alprd: installed, not started. Next: alprd provision --dir /etc/alprd/keys" \
             "--unit UNIT-ID --hq-host HQ; edit /etc/alprd/alprd.toml;" \
             "systemctl enable --now alprd.service alprd-selftest.timer"
    fi
fi
exit 0
"""
PRERM = """\
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now alprd.service alprd-selftest.timer >/dev/null 2>&1 || true
fi
exit 0
"""
POSTRM = """\
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
if [ "$1" = purge ]; then
    rmdir /var/lib/alprd 2>/dev/null || true
    rmdir /etc/alprd 2>/dev/null || true
    left=""
    [ -e /var/lib/alprd ] && left="$left /var/lib/alprd"
    [ -e /etc/alprd/keys ] && left="$left /etc/alprd/keys"
    if [ -n "$left" ]; then
        echo "alprd purged; kept:$left. They may hold reads HQ has not acknowledged and the" \
             "data key that opens them: retention (POL-09) decides when they go. Check the" \
             "outbox is empty (alprd selftest while installed), then delete them by hand."
    fi
fi
exit 0
"""


def version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def run(*cmd, **kw) -> None:
    subprocess.run(cmd, check=True, **kw)


def wheel(work: Path) -> Path:
    out = work / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO))
    return next(out.glob("alprd-*.whl"))


def venv(root: Path, arch: str, alprd_wheel: Path) -> Path:
    venv = root / "opt" / "alprd" / "venv"
    site = venv / "lib" / PY / "site-packages"
    site.mkdir(parents=True)
    (venv / "lib64").symlink_to("lib")
    (venv / "bin").mkdir()
    (venv / "bin" / PY).symlink_to(f"/usr/bin/{PY}")
    (venv / "bin" / "python3").symlink_to(PY)
    (venv / "bin" / "python").symlink_to(PY)
    (venv / "pyvenv.cfg").write_text(
        "home = /usr/bin\n"
        f"include-system-site-packages = {'true' if arch == 'arm64' else 'false'}\n"
        "version = 3.11\n"
    )
    run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        "--no-compile",
        "--no-warn-script-location",
        "--target",
        str(site),
        *pip_target_args(arch),
        str(alprd_wheel),
    )
    shutil.rmtree(site / "bin", ignore_errors=True)  # scripts with the build machine's shebang
    launcher = venv / "bin" / "alprd"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    # bytecode now, for Debian's CPython 3.11 (the same on amd64 and the Pi): hash-checked, so
    # it stays valid whatever the files' times
    run(
        f"/usr/bin/{PY}",
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        str(site),
    )
    return venv


def foreign_elf(root: Path, arch: str) -> list[str]:
    """Files that are ELF binaries for another machine than arch (must be none)."""
    want, bad = ELF_MACHINE[arch], []
    for p in root.rglob("*"):
        if p.is_symlink() or not p.is_file():
            continue
        with open(p, "rb") as f:
            head = f.read(20)
        if head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") != want:
            bad.append(str(p.relative_to(root)))
    return bad


STATE_MODEL = "rapidocr/models/PP-OCRv6_rec_small.onnx"  # alprd.recognize.state_ocr.MODEL


def state_model_notice(root: Path, doc: Path) -> Path:
    """The state reader's model (PaddleOCR's, in the rapidocr wheel) must be in the package,
    and its licence notice beside alprd's documents: the wheel's MODEL_LICENSES.md (the
    weights' licence, Apache-2.0, with their sha256) and its LICENSE, as
    /usr/share/doc/alprd/rapidocr-MODEL_LICENSES.md and rapidocr-LICENSE."""
    site = root / "opt" / "alprd" / "venv" / "lib" / PY / "site-packages"
    if not (site / STATE_MODEL).is_file():
        raise SystemExit(f"the state reader's model {STATE_MODEL} is not in the package")
    licences = next(site.glob("rapidocr-*.dist-info/licenses"), None)
    if licences is None or not (licences / "MODEL_LICENSES.md").is_file():
        raise SystemExit("rapidocr's MODEL_LICENSES.md is not in the package")
    for name in ("MODEL_LICENSES.md", "LICENSE"):
        shutil.copy(licences / name, doc / f"rapidocr-{name}")
    return doc / "rapidocr-MODEL_LICENSES.md"


def control(arch: str, installed_kb: int) -> str:
    recommends = "python3-picamera2, chrony" if arch == "arm64" else "chrony"
    return (
        f"Package: alprd\nVersion: {version()}\nArchitecture: {DEB_ARCH[arch]}\n"
        "Maintainer: alprd developers <alprd@localhost>\n"
        "Depends: python3.11, libc6 (>= 2.34), systemd\n"
        f"Recommends: {recommends}\nSection: misc\nPriority: optional\n"
        f"Installed-Size: {installed_kb}\n"
        "Description: automated licence plate recognition for patrol vehicles\n"
        " The in-car daemon: cameras and GPS, on-device plate reading, hotlist hits with\n"
        " verify-before-stop, an encrypted store and the uplink to headquarters.\n"
    )


def build(arch: str, out: Path, work: Path, alprd_wheel: Path, level: int = 6) -> Path:
    root = work / arch
    shutil.rmtree(root, ignore_errors=True)
    venv(root, arch, alprd_wheel)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "alprd").symlink_to("/opt/alprd/venv/bin/alprd")
    units = root / "lib" / "systemd" / "system"
    units.mkdir(parents=True)
    for unit in sorted((REPO / "systemd").iterdir()):
        shutil.copy(unit, units / unit.name)
    for folder, name, text in (
        ("sysusers.d", "alprd.conf", SYSUSERS),
        ("tmpfiles.d", "alprd.conf", TMPFILES),
    ):
        (root / "usr" / "lib" / folder).mkdir(parents=True)
        (root / "usr" / "lib" / folder / name).write_text(text)
    (root / "etc" / "alprd").mkdir(parents=True)
    shutil.copy(REPO / "config" / "alprd.toml", root / "etc" / "alprd" / "alprd.toml")
    doc = root / "usr" / "share" / "doc" / "alprd"
    doc.mkdir(parents=True)
    for name in ("README.md", "SECURITY.md", "firmware-notes.md"):
        shutil.copy(REPO / name, doc / name)
    state_model_notice(root, doc)
    bad = foreign_elf(root, arch)
    if bad:
        raise SystemExit(f"{arch}: {len(bad)} ELF file(s) for another machine, e.g. {bad[:3]}")
    meta = root / "DEBIAN"
    meta.mkdir()
    size_kb = (
        sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) // 1024
    )
    (meta / "control").write_text(control(arch, size_kb))
    (meta / "conffiles").write_text("/etc/alprd/alprd.toml\n")
    for name, text in (("postinst", POSTINST), ("prerm", PRERM), ("postrm", POSTRM)):
        (meta / name).write_text(text)
        (meta / name).chmod(0o755)
    for p in root.rglob("*"):  # no file wider than the package needs
        if not p.is_symlink():
            p.chmod(p.stat().st_mode & ~(stat.S_IWGRP | stat.S_IWOTH))
    out.mkdir(parents=True, exist_ok=True)
    deb = out / f"alprd_{version()}_{DEB_ARCH[arch]}.deb"
    run(
        "dpkg-deb",
        "--root-owner-group",
        "-Zgzip",
        f"-z{level}",
        "--build",
        str(root),
        str(deb),
        stdout=subprocess.DEVNULL,
    )
    return deb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("arch", nargs="*", help="amd64, arm64 (default: both)")
    ap.add_argument("--out", default=str(REPO / "dist"))
    ap.add_argument("--work", default=str(REPO / "build" / "deb"))
    ap.add_argument(
        "--level",
        type=int,
        default=6,
        choices=range(1, 10),
        help="gzip level (1: fastest, for tests)",
    )
    a = ap.parse_args(argv)
    unknown = [x for x in a.arch if x not in ELF_MACHINE]
    if unknown:
        ap.error(f"unknown architecture {unknown[0]!r}: choose amd64 or arm64")
    if not shutil.which("dpkg-deb"):
        print("deb: dpkg-deb not found (apt-get install dpkg-dev)", file=sys.stderr)
        return 2
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    whl = wheel(work)
    for arch in a.arch or list(ELF_MACHINE):
        deb = build(arch, Path(a.out), work, whl, a.level)
        print(f"{deb}: {deb.stat().st_size / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
