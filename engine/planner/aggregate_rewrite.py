"""The expressions of an aggregation, walked and rewritten: GROUP BY expressions and aggregate
calls in the SELECT list and HAVING become the columns of the aggregate stage (`KSQL_GROUP_KEY_<i>`,
`KSQL_AGG_VARIABLE_<i>`), matched regardless of how their columns are qualified.
"""
from __future__ import annotations

import dataclasses

from pyksqlite.common.schema import WINDOWEND, WINDOWSTART
from pyksqlite.grammar import ast

KEY_PREFIX = "KSQL_GROUP_KEY_"


def _children(expr) -> list:
    out = []
    for f in dataclasses.fields(expr):
        value = getattr(expr, f.name)
        if isinstance(value, (ast.Expr, ast.WhenClause)):
            out.append(value)
        elif isinstance(value, tuple):
            for element in value:
                if isinstance(element, tuple):
                    out += [x for x in element if isinstance(x, (ast.Expr, ast.WhenClause))]
                elif isinstance(element, (ast.Expr, ast.WhenClause)):
                    out.append(element)
    return out


def walk(expr, skip_aggregate_args: bool = False):
    yield expr
    for child in _children(expr):
        yield from walk(child, skip_aggregate_args)


def strip_sources(expr):
    """The expression with source qualifiers of plain columns removed (for matching)."""
    if isinstance(expr, ast.ColumnRef):
        return ast.ColumnRef(expr.name)
    if not dataclasses.is_dataclass(expr):
        return expr
    changes = {}
    for f in dataclasses.fields(expr):
        value = getattr(expr, f.name)
        if isinstance(value, (ast.Expr, ast.WhenClause)):
            changes[f.name] = strip_sources(value)
        elif isinstance(value, tuple):
            changes[f.name] = tuple(tuple(strip_sources(x) for x in v) if isinstance(v, tuple) else strip_sources(v)
                                    for v in value)
    return dataclasses.replace(expr, **changes) if changes else expr


def equivalent(a: ast.Expr, b: ast.Expr) -> bool:
    return strip_sources(a) == strip_sources(b)


class AggregateRewriter:
    """Replaces GROUP BY expressions and aggregate calls by the output stage's columns; reports
    the input columns left over (not part of GROUP BY)."""

    def __init__(self, group_by: list[ast.Expr], aggregates: list, windowed: bool):
        """`aggregates`: the distinct aggregate calls, each with its `call` and its `column`."""
        self.groups = [(strip_sources(g), ast.ColumnRef(f"{KEY_PREFIX}{i}")) for i, g in enumerate(group_by)]
        self.aggregates = [(strip_sources(a.call), ast.ColumnRef(a.column)) for a in aggregates]
        self.windowed = windowed

    def rewrite(self, expr: ast.Expr) -> tuple[ast.Expr, list[str]]:
        leftovers: list[str] = []
        return self._rewrite(expr, leftovers), leftovers

    def _rewrite(self, expr, leftovers):
        if isinstance(expr, ast.WhenClause):
            return ast.WhenClause(self._rewrite(expr.condition, leftovers), self._rewrite(expr.result, leftovers))
        if not isinstance(expr, ast.Expr):
            return expr
        stripped = strip_sources(expr)
        for target, replacement in self.aggregates + self.groups:
            if stripped == target:
                return replacement
        if isinstance(expr, ast.ColumnRef):
            if self.windowed and expr.name in (WINDOWSTART, WINDOWEND):
                return ast.ColumnRef(expr.name)
            leftovers.append(expr.name)
            return expr
        if isinstance(expr, ast.Lambda):
            return expr
        changes = {}
        for f in dataclasses.fields(expr):
            value = getattr(expr, f.name)
            if isinstance(value, (ast.Expr, ast.WhenClause)):
                changes[f.name] = self._rewrite(value, leftovers)
            elif isinstance(value, tuple):
                changes[f.name] = tuple(
                    tuple(self._rewrite(x, leftovers) if isinstance(x, (ast.Expr, ast.WhenClause)) else x
                          for x in v) if isinstance(v, tuple)
                    else (self._rewrite(v, leftovers) if isinstance(v, (ast.Expr, ast.WhenClause)) else v)
                    for v in value)
        return dataclasses.replace(expr, **changes) if changes else expr
