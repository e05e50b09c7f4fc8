"""#25: the Debian package. Built here (amd64), installed on this machine, its units verified,
`alprd selftest --json` and the demo run from the installed tree, then purged: nothing is left
but the system user (Debian keeps system users). The arm64 package's check that every ELF file
is aarch64 runs inside `./run deb` (pkg/build_deb.py refuses to build otherwise); its checker
is tested here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pkg import build_deb

INSTALLED = Path("/opt/alprd/venv")
WATCHED = [
    "/opt",
    "/etc",
    "/lib/systemd/system",
    "/usr/bin",
    "/usr/lib/sysusers.d",
    "/usr/lib/tmpfiles.d",
    "/var/lib",
    "/usr/share/doc",
]


def _tree() -> set[str]:
    out = set()
    for top in WATCHED:
        for dirpath, dirnames, filenames in os.walk(top):
            if dirpath.startswith(("/var/lib/dpkg", "/var/lib/apt", "/var/lib/systemd")):
                dirnames[:] = []
                continue
            out.update(os.path.join(dirpath, n) for n in dirnames + filenames)
    return out


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "installing a package needs root"
    if not (shutil.which("dpkg") and shutil.which("dpkg-deb")):
        return "not a Debian system (no dpkg)"
    if subprocess.run(["dpkg", "-s", "alprd"], capture_output=True).returncode == 0:
        return "an alprd package is installed on this machine: not touching it"
    return None


def test_the_arm64_check_finds_an_x86_binary(tmp_path):
    (tmp_path / "lib").mkdir()
    elf = bytearray(b"\x7fELF" + bytes(16))
    elf[18:20] = (0x3E).to_bytes(2, "little")  # x86-64
    (tmp_path / "lib" / "x.so").write_bytes(bytes(elf))
    elf[18:20] = (0xB7).to_bytes(2, "little")  # aarch64
    (tmp_path / "lib" / "a.so").write_bytes(bytes(elf))
    assert build_deb.foreign_elf(tmp_path, "arm64") == ["lib/x.so"]
    assert build_deb.foreign_elf(tmp_path, "amd64") == ["lib/a.so"]


def test_a_package_without_the_state_model_or_its_licence_is_not_built(tmp_path):
    site = tmp_path / "opt" / "alprd" / "venv" / "lib" / "python3.11" / "site-packages"
    doc = tmp_path / "doc"
    doc.mkdir()
    with pytest.raises(SystemExit, match="state reader's model"):
        build_deb.state_model_notice(tmp_path, doc)
    (site / build_deb.STATE_MODEL).parent.mkdir(parents=True)
    (site / build_deb.STATE_MODEL).write_bytes(b"onnx")
    with pytest.raises(SystemExit, match="MODEL_LICENSES.md"):
        build_deb.state_model_notice(tmp_path, doc)
    licences = site / "rapidocr-3.10.0.dist-info" / "licenses"
    licences.mkdir(parents=True)
    (licences / "MODEL_LICENSES.md").write_text("PP-OCRv6_rec_small: Apache-2.0")
    (licences / "LICENSE").write_text("Apache License 2.0")
    assert build_deb.state_model_notice(tmp_path, doc).read_text().endswith("Apache-2.0")
    assert (doc / "rapidocr-LICENSE").is_file()


@pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))
def test_the_package_installs_runs_and_purges_clean(tmp_path):
    try:
        assert (
            build_deb.main(
                [
                    "amd64",
                    "--out",
                    str(tmp_path / "dist"),
                    "--work",
                    str(tmp_path / "work"),
                    "--level",
                    "1",
                ]
            )
            == 0
        )
    except subprocess.CalledProcessError as exc:
        if "pip" in " ".join(map(str, exc.cmd)):
            pytest.skip(f"no package index reachable for the wheels ({exc})")
        raise
    deb = next((tmp_path / "dist").glob("alprd_*_amd64.deb"))
    before = _tree()
    subprocess.run(["dpkg", "-i", str(deb)], check=True, capture_output=True)
    try:
        assert subprocess.run(["id", "alprd"], capture_output=True).returncode == 0
        assert oct(os.stat("/var/lib/alprd").st_mode & 0o777) == "0o700"
        if shutil.which("systemd-analyze"):
            units = [
                f"/lib/systemd/system/{u}"
                for u in ("alprd.service", "alprd-selftest.service", "alprd-selftest.timer")
            ]
            v = subprocess.run(
                ["systemd-analyze", "verify", *units], capture_output=True, text=True
            )
            assert v.returncode == 0, v.stderr
        # the state reader's model (PaddleOCR's, from the rapidocr wheel) and its licence
        notice = Path("/usr/share/doc/alprd/rapidocr-MODEL_LICENSES.md")
        assert "Apache" in notice.read_text() and "PP-OCRv6_rec_small" in notice.read_text()
        assert next(INSTALLED.glob(f"lib/python3.11/site-packages/{build_deb.STATE_MODEL}"))
        opt_before = {str(p) for p in Path("/opt/alprd").rglob("*")}
        # the self-test from the installed tree, on this machine's files only
        assets = next(INSTALLED.glob("lib/python3.11/site-packages/alprd/demo/assets"))
        keys = tmp_path / "keys"
        subprocess.run(
            ["/usr/bin/alprd", "provision", "--dir", str(keys), "--unit", "DEB-1"],
            check=True,
            capture_output=True,
        )
        cfg = tmp_path / "alprd.toml"
        cfg.write_text(
            f'[vehicle]\nunit_id = "DEB-1"\n[[capture.cameras]]\nid = "rear"\n'
            f'source = "{assets / "clip.mp4"}"\n'
            f'[gps]\nport = "{assets / "track.nmea"}"\n'
            f'[hotlist]\npath = "{assets / "hotlist.csv"}"\n'
            f'[store]\npath = "{tmp_path / "state" / "car.db"}"\n'
            f'key_file = "{keys / "data.key"}"\n'
        )
        st = subprocess.run(
            ["/usr/bin/alprd", "selftest", "--json", "-c", str(cfg), "--min-free-mb", "1"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        results = {r["component"]: r["status"] for r in json.loads(st.stdout)["results"]}
        assert results["camera rear"] == "ok" and results["models"] == "ok", st.stdout
        clip = f'[{{id = "rear", source = "{assets / "clip.mp4"}", fps = 20}}]'  # 2x
        demo = subprocess.run(
            ["/usr/bin/alprd", "demo", "--once", "--state-dir", str(tmp_path / "demo")],
            capture_output=True,
            text=True,
            timeout=240,
            env=dict(os.environ, ALPRD_CAPTURE__CAMERAS=clip),
        )
        assert demo.returncode == 0, demo.stderr[-2000:]
        assert "hq: 5 reads, 2 hits stored" in demo.stdout + demo.stderr
        # nothing was written under /opt at run time (bytecode came with the package)
        assert {str(p) for p in Path("/opt/alprd").rglob("*")} == opt_before
    finally:
        purge = subprocess.run(["dpkg", "--purge", "alprd"], capture_output=True, text=True)
    assert purge.returncode == 0, purge.stderr
    assert _tree() == before, sorted(_tree() ^ before)[:20]
