"""ksqlite: ksqlDB's continuous streaming SQL, embedded.

    from pyksqlite import Engine

The package's parts, each a layer that knows only the layers below it (docs/architecture.md):
`grammar` (text to AST), `common`, `log`, `serde`, `state`, `expressions`, `catalog`,
`operators`, `planner`, `runtime`, `facade` (the `Engine`), and `shell` (the `ksqlite` command,
the REPL, the REST server). `pyksqlite.udf` is the public API for Python functions.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Engine", "KsqlException"]

if TYPE_CHECKING:
    from pyksqlite.common.errors import KsqlException
    from pyksqlite.facade.engine import Engine


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `import pyksqlite.grammar` (or the CLI's --help) does not
    # load the whole engine.
    if name == "Engine":
        from pyksqlite.facade.engine import Engine
        return Engine
    if name == "KsqlException":
        from pyksqlite.common.errors import KsqlException
        return KsqlException
    raise AttributeError(f"module 'pyksqlite' has no attribute {name!r}")
