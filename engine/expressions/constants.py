"""Constant expressions evaluated once (INSERT VALUES): compile, run a one-row DuckDB query,
and read the value back as the Python value of `to_arrow(type)`.
"""
from __future__ import annotations

from typing import Any, Optional

import pyarrow as pa

from pyksqlite.common.duck import connection
from pyksqlite.expressions.scope import Scope
from pyksqlite.common.types import to_arrow
from pyksqlite.grammar import ast as a
from pyksqlite.grammar.ast import SqlType


def conform_array(values: pa.Array, sql_type: SqlType) -> pa.Array:
    """`values` cast to exactly `to_arrow(sql_type)` (DuckDB returns TIME in microseconds)."""
    target = to_arrow(sql_type)
    return values if values.type == target else values.cast(target)


def evaluate(expr: a.Expr) -> tuple[Any, Optional[SqlType]]:
    """(value, type) of a constant expression; (None, None) for an untyped NULL."""
    from pyksqlite.expressions.compiler import ExpressionCompiler
    if isinstance(expr, a.NullLiteral):
        return None, None
    compiler = ExpressionCompiler(Scope({}))
    typed = compiler.compile(expr)
    if typed.type is None:
        return None, None
    projection = compiler.compile_projection(expr)
    table = connection().sql(f"SELECT {projection.sql} AS v").to_arrow_table()
    return conform_array(table.column(0).combine_chunks(), typed.type)[0].as_py(), typed.type
