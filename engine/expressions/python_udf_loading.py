"""Where Python UDFs come from: ksqlDB's `ksql.extension.dir`, and Python's entry points.

* `ksql.extension.dir` (engine property; `ksqlite serve/run/qtt --extension-dir`): every `*.py`
  file of that directory is imported when an Engine starts, as ksqlDB loads the jars of its
  extension directory at server start. A file is imported again only when it changed, so many
  engines of one process (tests, QTT cases) share one import. Files named `_*.py` are helpers:
  not loaded themselves, importable by the others by name (`from _helpers import x`) while the
  directory loads, as the classes of one jar see each other.
* the entry point group `ksqlite.udfs`: each entry point names a module (or a callable taking
  the registry) of an installed package, imported once per process.

The loaded files are code that runs inside the engine with its privileges: the operator who sets
the property chooses to trust them. So the directory comes only from the engine's own
configuration, never from a statement or a REST request, and a directory or file that anyone
may write to is refused (someone else could have put code there).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import os
import stat
import sys
import threading
from pathlib import Path

from pyksqlite.common.errors import KsqlException

ENTRY_POINT_GROUP = "ksqlite.udfs"
EXTENSION_DIR_PROPERTY = "ksql.extension.dir"

_lock = threading.Lock()
_imported: dict[str, tuple] = {}    # resolved path -> ((mtime_ns, size), names it registered)
_entry_points_loaded = False


def load_extension_dir(directory: str | Path) -> list[str]:
    """Import the `*.py` files of `directory` that are new or changed since their last import:
    their decorators register (a file imported again replaces its functions' variants).
    Returns the files imported."""
    root = Path(directory)
    if not root.is_dir():
        raise KsqlException(f"{EXTENSION_DIR_PROPERTY} '{directory}' is not a directory")
    _refuse_if_world_writable(root)
    loaded = []
    with _lock, _importable(root):
        for path in sorted(p for p in root.glob("*.py") if not p.name.startswith("_")):
            resolved = path.resolve()
            info = resolved.stat()
            if not stat.S_ISREG(info.st_mode):
                continue
            _refuse_if_world_writable(resolved)
            version = (info.st_mtime_ns, info.st_size)
            if _still_loaded(str(resolved), version):
                continue
            _import(path, resolved)
            _imported[str(resolved)] = (version, _names_from(str(resolved)))
            loaded.append(str(path))
    return loaded


@contextlib.contextmanager
def _importable(root: Path):
    """The directory's modules importable by name while it loads, and only then: another
    directory's module of the same name (or an unrelated one) is set aside meanwhile."""
    entry = str(root.resolve())
    names = {p.stem for p in root.glob("*.py")}
    aside = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(aside)


def _still_loaded(resolved: str, version: tuple) -> bool:
    """Whether the file's import is current: unchanged, and none of its functions unregistered."""
    previous = _imported.get(resolved)
    if previous is None or previous[0] != version:
        return False
    from pyksqlite.expressions.functions import default_registry
    return all(default_registry().exists(name) for name in previous[1])


def _names_from(resolved: str) -> frozenset[str]:
    from pyksqlite.expressions.python_udf import python_functions
    return frozenset(f.name for f in python_functions() if f.path == resolved)


def _import(path: Path, resolved: Path) -> None:
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"ksqlite_ext_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(module_name, None)
        raise KsqlException(f"Could not load UDFs from {path}: {type(error).__name__}: {error}") from error


def _refuse_if_world_writable(path: Path) -> None:
    if os.name == "posix" and path.stat().st_mode & stat.S_IWOTH:
        raise KsqlException(f"{EXTENSION_DIR_PROPERTY}: '{path}' is writable by any user; refusing to "
                            "load code from it")


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load the installed packages' UDFs (entry point group `ksqlite.udfs`), once per process.

    An entry point names a module (its decorators register) or a callable, called with the
    registry."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return []
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    from pyksqlite.expressions.functions import default_registry
    loaded = []
    for entry in entry_points(group=group):
        target = entry.load()
        if callable(target) and not inspect.ismodule(target):
            target(default_registry())
        loaded.append(entry.name)
    return loaded


def load_configured(properties: dict) -> None:
    """What an Engine does at start: entry points, then `ksql.extension.dir` if set."""
    if str(properties.get("ksql.udfs.enabled", "true")).lower() == "false":
        return
    load_entry_points()
    directory = properties.get(EXTENSION_DIR_PROPERTY)
    if directory:
        load_extension_dir(directory)
