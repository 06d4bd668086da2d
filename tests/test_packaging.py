"""A non-editable install ships the whole package, and only it.

The source folders are mapped into one package (`engine/` is `pyksqlite`, `grammar/` and `shell/`
are `pyksqlite.grammar` and `pyksqlite.shell`), and setuptools ships only the packages
pyproject.toml lists: a new package folder missing from that list would work in an editable
install and be absent from a wheel. So: a real wheel is built (from a copy of the sources, so the
checkout gets no build/ or egg-info), and its contents are compared with the source tree.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT_SECONDS = 300


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _package_dirs() -> dict[str, str]:
    return _pyproject()["tool"]["setuptools"]["package-dir"]


def _source_packages() -> dict[str, Path]:
    """Every package folder (a folder with an __init__.py) under the mapped folders, by the
    dotted name it is installed as."""
    found = {}
    for package, folder in _package_dirs().items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found[".".join((package, *parts))] = init.parent
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in set(_package_dirs().values()):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_pyproject_lists_every_package_folder():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    assert listed == set(_source_packages())


def test_the_wheel_installs_one_top_level_name(wheel):
    top_level = {name.split("/", 1)[0] for name in wheel.namelist()}
    dist_info = {name for name in top_level if name.endswith(".dist-info")}
    assert len(dist_info) == 1 and next(iter(dist_info)).startswith("pyksqlite-")
    assert top_level - dist_info == {"pyksqlite"}


def test_the_wheel_holds_every_module_and_the_grammar(wheel):
    names = set(wheel.namelist())
    assert "pyksqlite/grammar/ksql.lark" in names
    for package, folder in _source_packages().items():
        for module in folder.glob("*.py"):
            assert f"{package.replace('.', '/')}/{module.name}" in names
