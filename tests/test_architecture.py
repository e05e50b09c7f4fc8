"""The house rules that keep the code easy to change, checked rather than remembered.

The layering (pyproject.toml, [tool.importlinter]): stages import none of the store, uplink,
page or daemon; HQ imports no car-only module (the retention schedule both apply lives in
alprd.protocol, #35 item 9); the shared contract (alprd.protocol) imports
neither side; the runtime never imports the demo (the self-test's reference frame is its own,
#35 item 6); the pipeline, the inbox and the alert workflow never import the page, which
renders them; the uplink drains an outbox interface, never the store class; nothing under
alprd/ imports train/ or bench/. The checkers: ruff, and mypy --strict. And the sizes: a
package's __init__.py only re-exports, no module needs a scroll bar, the daemon only wires.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "alprd"


def test_the_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is not installed (./run test installs the [dev] extra)"
    run = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout and "7 kept" in run.stdout, run.stdout[-2000:]


def test_every_runtime_module_is_held_to_the_no_demo_contract():
    """A module added under alprd/ is in the contract's list, or the contract misses it:
    only the command line (`alprd demo`), its __main__ and the demo itself may import it."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    (demo,) = [c for c in contracts if c["forbidden_modules"] == ["alprd.demo"]]
    runtime = {
        f"alprd.{p.stem if p.is_file() else p.name}"
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists())
        and p.stem not in ("__init__", "__main__", "cli", "demo")
    }
    assert set(demo["source_modules"]) == runtime


def test_ruff_finds_nothing_and_the_code_has_one_layout():
    """pycodestyle, pyflakes, bugbear, blind-except and import-order rules over alprd/,
    bench/, train/, tests/ and pkg/ ([tool.ruff] in pyproject.toml, each exemption with its
    reason; #35 item 7), and `ruff format --check`: nobody's diff is a reformat."""
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert exe, "ruff is not installed (./run test installs the [dev] extra)"
    for args in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        run = subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_mypy_strict_finds_nothing():
    """mypy --strict over alprd/ ([tool.mypy] in pyproject.toml: no module is exempt; only
    the libraries that ship no type information are taken as they come). A renamed
    attribute, a None where a value is needed, a wrong argument: an error here, not a 500
    in the car (#35 item 2)."""
    exe = shutil.which("mypy", path=str(Path(sys.executable).parent))
    assert exe, "mypy is not installed (./run test installs the [dev] extra)"
    run = subprocess.run(
        [exe, "--cache-dir", str(ROOT / ".mypy_cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Success: no issues found" in run.stdout


def lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_no_module_is_over_400_lines_and_the_daemon_only_wires():
    long = {str(p.relative_to(ROOT)): lines(p) for p in PACKAGE.rglob("*.py") if lines(p) > 400}
    assert long == {}
    assert lines(PACKAGE / "daemon.py") < 200


def test_package_init_files_only_re_export():
    """Every statement of a package's __init__.py is its docstring, an import, __all__ or
    __version__, and it stays short: a reader who opens the package sees its rooms, not a body
    hidden in the door."""
    import ast

    for init in PACKAGE.rglob("__init__.py"):
        assert lines(init) <= 60, init
        for node in ast.parse(init.read_text()).body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            exports = isinstance(node, ast.Assign) and [
                getattr(t, "id", None) for t in node.targets
            ] in (["__all__"], ["__version__"])
            assert docstring or exports or isinstance(node, (ast.Import, ast.ImportFrom)), (
                f"{init}:{node.lineno} is not an import, __all__, __version__ or the docstring"
            )


def test_no_test_asserts_a_duration():
    """Tests check behaviour, never durations: CI's machine may be busy (#32 item 12: a
    2 s assertion failed a fresh clone's run). A duration is a bench/ figure."""
    import re

    # an upper bound (a lower one, such as a rate cap's pacing, only grows on a busy machine)
    timed = re.compile(
        r"assert\b.*(\belapsed|\btook|(monotonic|perf_counter|time)\(\) - "
        r"\w+)\s*<"
    )
    found = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in (ROOT / "tests").rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if timed.search(line)
    ]
    assert found == []
