"""Packaging: compatible dependency ranges, the exact pins kept in constraints.txt, ``--version``, a
``--help`` that imports nothing heavy, and a wheel that carries the committed suites."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
HEAVY = ("torch", "sympy", "numpy", "scipy", "matplotlib", "theory", "auxtasks", "verify.suite")


def _requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower()


def test_dependencies_are_ranges_and_pins_live_in_constraints():
    dependencies = PYPROJECT["project"]["dependencies"]
    names = {_requirement_name(d): d for d in dependencies}
    assert set(names) >= {"torch", "numpy", "sympy", "scipy", "matplotlib", "tqdm"}
    for requirement in dependencies:
        assert "==" not in requirement, f"{requirement}: an exact pin would replace an installed torch"
        assert ">=" in requirement, f"{requirement}: give a lower bound"
    constraints = {_requirement_name(line): line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines()
                   if line.strip() and not line.startswith("#")}
    for name in names:
        assert "==" in constraints.get(name, ""), f"{name} is not pinned in constraints.txt"
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "verify.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_version_flag_prints_the_package_version():
    done = _cli("--version")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.strip() == f"lengthgen {PYPROJECT['project']['version']}"


def test_version_falls_back_to_pyproject_when_not_installed(monkeypatch):
    from verify import cli

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert cli.package_version() == PYPROJECT["project"]["version"]


@pytest.mark.parametrize("argv", [["--help"], ["report", "--help"], ["--version"]])
def test_help_and_version_import_nothing_heavy(argv):
    probe = ("import contextlib, io, sys\n"
             "from verify.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
             "    try:\n"
             f"        main({argv!r})\n"
             "    except SystemExit:\n"
             "        pass\n"
             f"print(len(out.getvalue()), sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    printed, loaded = done.stdout.split(" ", 1)
    assert int(printed) > 0  # the help or version text really was printed
    assert loaded.strip() == "[]"


def test_report_help_lists_every_committed_suite():
    done = _cli("report", "--help")
    assert done.returncode == 0
    suites = sorted(p.stem for p in (ROOT / "verify" / "suites").glob("*.py") if not p.stem.startswith("_"))
    assert suites, "no committed suites found"
    for name in suites:
        assert re.search(rf"^  {name}\s+\S", done.stdout, re.M), f"suite {name} missing from report --help"


def test_executor_choices_match_the_executors():
    from verify.cli import EXECUTOR_CHOICES
    from verify.executors import EXECUTORS

    assert EXECUTOR_CHOICES == EXECUTORS


def test_wheel_carries_the_packages_and_committed_suites(tmp_path):
    source = tmp_path / "src"  # a copy, so the build leaves no build/ or egg-info in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in PYPROJECT["tool"]["setuptools"]["packages"]:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and "No module named pip" in done.stderr:
        pytest.skip("pip is not installed in this environment")
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("lengthgen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("theory/task.py", "auxtasks/restriction.py", "verify/cli.py", "verify/stats.py"):
        assert module in names
    for suite in (ROOT / "verify" / "suites").glob("*.py"):
        assert f"verify/suites/{suite.name}" in names
    requires = [line for line in zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA")))
                .decode().splitlines() if line.startswith("Requires-Dist: torch")]
    torch = next(d for d in PYPROJECT["project"]["dependencies"] if _requirement_name(d) == "torch")
    assert requires == [f"Requires-Dist: {torch}"]
