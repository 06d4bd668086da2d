"""ksqlDB's checks of an aggregation, with its messages: the sources aggregated, GROUP BY
expressions (no aggregates, no duplicates, no window bounds), intermediate types the source's
format can hold, undo for table sources, and the result's column names.
"""
from __future__ import annotations

from typing import Optional

from pyksqlite.common import messages
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.common.schema import WINDOWEND, WINDOWSTART
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression
from pyksqlite.planner.aggregate_rewrite import equivalent, walk
from pyksqlite.planner.outputs import OutputExpr
from pyksqlite.planner.relation import RelationPlan


def check_sources(relation: RelationPlan, query: ast.Query) -> None:
    for source in relation.sources:
        if source.window is not None and source.is_table:
            raise KsqlStatementException("KSQL does not support persistent queries on windowed tables.")
    kafka = [s.name for s in relation.sources if s.value_format.name == "KAFKA"]
    if kafka and query.group_by:
        raise KsqlStatementException(
            f"Source(s) {', '.join(kafka)} are using the 'KAFKA' value format. "
            "This format does not yet support GROUP BY.")


def check_group_by(query: ast.Query, relation: RelationPlan, registry) -> list[ast.Expr]:
    seen: list[ast.Expr] = []
    for expr in query.group_by:
        for node in walk(expr):
            if isinstance(node, ast.FunctionCall) and registry.kind_of(node.name) == "aggregate":
                raise KsqlStatementException(
                    f"GROUP BY does not support aggregate functions: {node.name} is an aggregate function.")
        check_window_bounds(expr, relation)
        if any(equivalent(expr, previous) for previous in seen):
            shown = format_expression(_qualify(expr, relation))
            raise KsqlStatementException(f"Duplicate GROUP BY expression: {shown}")
        seen.append(expr)
    return seen


def check_window_bounds(expr: Optional[ast.Expr], relation: RelationPlan) -> None:
    """WINDOWSTART/WINDOWEND of the aggregation's own window exist only in its SELECT."""
    for node in walk(expr) if expr is not None else ():
        if isinstance(node, ast.ColumnRef) and node.name in (WINDOWSTART, WINDOWEND) \
                and relation.layout.find(node.name) is None:
            raise KsqlStatementException(
                f"Window bounds column {node.name} can only be used in the SELECT clause of "
                "windowed aggregations")


def _qualify(expr: ast.Expr, relation: RelationPlan) -> ast.Expr:
    if isinstance(expr, ast.ColumnRef) and expr.source is None:
        field = relation.layout.find(expr.name)
        source = (field.source if field is not None and field.source else relation.sources[0].name)
        return ast.ColumnRef(expr.name, source)
    return expr


def check_intermediate_format(relation: RelationPlan, aggregates: list) -> None:
    """`aggregates`: the query's aggregate calls (`AggregateCall`s), each with its `bound` form."""
    if any(a.bound.complex_intermediate for a in aggregates) and \
            any(s.value_format.name == "DELIMITED" for s in relation.sources):
        raise KsqlStatementException(
            "One of the functions used in the statement has an intermediate type that the value format "
            "can not handle. Please remove the function or change the format.")


def check_undo(aggregates: list) -> None:
    """An aggregation over a table retracts rows: every aggregate must support undo."""
    bad = [a.call.name for a in aggregates if not a.bound.undo]
    if bad:
        raise messages.aggregates_cannot_undo(list(dict.fromkeys(bad)))


def check_duplicate_columns(keys: list[OutputExpr], values: list[OutputExpr]) -> None:
    seen: set[str] = set()
    for item in keys + values:
        if item.name in seen:
            raise KsqlStatementException(f"Duplicate value columns found in schema: `{item.name}` {item.type}")
        seen.add(item.name)
