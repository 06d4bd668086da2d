"""Planning table functions (EXPLODE, CUBE_EXPLODE, Python UDTFs) in a SELECT list.

As in ksqlDB, a query with table functions runs in two steps: a flatten step evaluates every
table function call of the SELECT list over the input row and emits one row per position (the
calls zipped, the shorter padded with NULLs); the projection then runs over the flattened rows,
in which each call is a synthetic column `KSQL_SYNTH_<n>`. Every output row keeps its input
row's key, timestamp, partition, offset and headers. ksqlDB's rules: streams only, SELECT only,
no aggregation, no nesting.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from pyksqlite.common.errors import KsqlException, KsqlStatementException
from pyksqlite.expressions.compiler import ExpressionCompiler
from pyksqlite.expressions.functions import FunctionRegistry, default_registry
from pyksqlite.expressions.table_functions import DISPLAY_SIGNATURES
from pyksqlite.operators.base import BatchLayout, Field
from pyksqlite.common.schema import VALUE
from pyksqlite.common.types import SqlType
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression

SYNTH_PREFIX = "KSQL_SYNTH_"


@dataclass(frozen=True)
class TableFunctionCall:
    """One table function call of the SELECT list and the synthetic column holding its values."""
    call: ast.FunctionCall
    column: str            # KSQL_SYNTH_<n>: the name the rewritten projection refers to
    sql_name: str          # the internal batch column (__tf<n>)
    list_sql: str          # DuckDB LIST expression over the input batch: the values to emit
    type: SqlType          # the type of one emitted value


@dataclass(frozen=True)
class FlattenPlan:
    calls: tuple[TableFunctionCall, ...]
    layout: BatchLayout                     # the input's fields plus the synthetic columns
    select: tuple[ast.SelectItem, ...]      # the SELECT list with calls replaced by columns

    def explain(self) -> str:
        return "FLATTEN " + ", ".join(f"{format_expression(c.call)} AS {c.column}" for c in self.calls)


def uses_table_functions(select, registry: Optional[FunctionRegistry] = None) -> bool:
    registry = registry or default_registry()
    return any(_find_calls(item.expr, registry) for item in select if isinstance(item, ast.SelectExpr))


def plan_flatten(select: tuple[ast.SelectItem, ...], layout: BatchLayout, result_kind: str,
                 compiler: ExpressionCompiler) -> FlattenPlan:
    """The flatten step of a SELECT list that calls table functions, checked as ksqlDB checks."""
    registry = compiler.functions
    if result_kind == "TABLE":
        raise KsqlException("Table source is not supported with table functions")
    ordered: list[TableFunctionCall] = []
    for item in select:
        if not isinstance(item, ast.SelectExpr):
            continue
        for call in _find_calls(item.expr, registry):
            if any(_find_calls(arg, registry) for arg in call.args):
                raise KsqlStatementException("Table functions cannot be nested.")
            # Each occurrence is its own column (ksqlDB evaluates duplicates separately, too).
            n = len(ordered)
            list_sql, element_type = _compile_call(call, compiler)
            ordered.append(TableFunctionCall(call, f"{SYNTH_PREFIX}{n}", f"__tf{n}", list_sql, element_type))
    queue: dict[ast.FunctionCall, list[TableFunctionCall]] = {c.call: [] for c in ordered}
    for c in ordered:
        queue[c.call].append(c)
    rewritten = []
    for item in select:
        if isinstance(item, ast.SelectExpr):
            item = dataclasses.replace(item, expr=_replace_calls(item.expr, registry, queue))
        rewritten.append(item)
    fields = tuple(layout.fields) + tuple(Field(c.column, c.type, c.sql_name, VALUE) for c in ordered)
    return FlattenPlan(tuple(ordered), BatchLayout(fields, has_tombstones=False), tuple(rewritten))


def is_synthetic(name: str) -> bool:
    return name.startswith(SYNTH_PREFIX)


def _compile_call(call: ast.FunctionCall, compiler: ExpressionCompiler) -> tuple[str, SqlType]:
    args = [compiler.compile_projection(arg) for arg in call.args]
    types = [a.type for a in args]
    try:
        resolved = compiler.functions.resolve(call.name, types)
    except KsqlStatementException as error:
        if "does not accept parameters" not in error.message:
            raise
        raise KsqlStatementException(error.message + "\nValid alternatives are:\n"
                                     + "\n".join(_alternatives(compiler.functions, call.name))) from None
    return resolved.render([a.sql for a in args], list(resolved.param_types)), resolved.return_type


def _alternatives(registry: FunctionRegistry, name: str) -> list[str]:
    if name.upper() in DISPLAY_SIGNATURES:
        return list(DISPLAY_SIGNATURES[name.upper()])
    info = registry.get(name)
    return [f"{info.display_name}({', '.join(f'{p} {v.param_name(i)}' for i, p in enumerate(v.params))})"
            for v in info.variants]


def _is_table_call(expr, registry: FunctionRegistry) -> bool:
    return isinstance(expr, ast.FunctionCall) and registry.kind_of(expr.name) == "table"


def _find_calls(expr, registry: FunctionRegistry) -> list[ast.FunctionCall]:
    """The table function calls in `expr`, outermost first, left to right."""
    if _is_table_call(expr, registry):
        return [expr]
    found = []
    for child in _children(expr):
        found += _find_calls(child, registry)
    return found


def _children(expr):
    for name in getattr(expr, "__dataclass_fields__", {}):
        value = getattr(expr, name)
        for part in (value if isinstance(value, tuple) else (value,)):
            for item in (part if isinstance(part, tuple) else (part,)):
                if isinstance(item, (ast.Expr, ast.WhenClause)):
                    yield item


def _replace_calls(expr, registry: FunctionRegistry, queue: dict):
    """`expr` with each table function call replaced by its synthetic column, in order."""
    if _is_table_call(expr, registry):
        return ast.ColumnRef(queue[expr].pop(0).column)
    if not hasattr(expr, "__dataclass_fields__"):
        return expr
    changes = {}
    for name in expr.__dataclass_fields__:
        value = getattr(expr, name)
        if isinstance(value, (ast.Expr, ast.WhenClause)):
            new = _replace_calls(value, registry, queue)
        elif isinstance(value, tuple):
            new = tuple(_replace_part(v, registry, queue) for v in value)
        else:
            continue
        if new != value:
            changes[name] = new
    return dataclasses.replace(expr, **changes) if changes else expr


def _replace_part(value, registry, queue):
    if isinstance(value, tuple):
        return tuple(_replace_part(v, registry, queue) for v in value)
    if isinstance(value, (ast.Expr, ast.WhenClause)):
        return _replace_calls(value, registry, queue)
    return value
