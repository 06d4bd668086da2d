"""ksqlDB's checks of a pull query (SELECT without EMIT CHANGES), with its messages: the clauses
it allows, the tables it can read, and, with table scans disabled, a WHERE that looks keys up.
"""
from __future__ import annotations

from typing import Optional

from pyksqlite.catalog.metastore import Catalog, DataSource
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression
from pyksqlite.planner.rewrite import referenced_columns


_PULL_HELP = " See https://cnfl.io/queries for more info."
_PUSH_HINT = "\nAdd EMIT CHANGES if you intended to issue a push query."
_PULL_DISALLOWED_COLUMNS = ("ROWPARTITION", "ROWOFFSET")
_RANGE_OPS = ("<", "<=", ">", ">=")


def check_pull_clauses(query: ast.Query) -> None:
    """ksqlDB's checks of a pull query's clauses, before it is planned: no JOIN, WINDOW or GROUP
    BY, no negative LIMIT."""
    if query.joins:
        raise KsqlStatementException("Pull queries don't support JOIN clauses." + _PULL_HELP + _PUSH_HINT)
    if query.window is not None:
        raise KsqlStatementException("Pull queries don't support WINDOW clauses." + _PULL_HELP + _PUSH_HINT)
    if query.group_by:
        raise KsqlStatementException("Pull queries don't support GROUP BY clauses." + _PULL_HELP + _PUSH_HINT)
    if query.limit is not None and query.limit < 0:
        raise KsqlStatementException("Pull queries don't support negative integers in the LIMIT clause."
                                     + _PULL_HELP)


def check_pull_query(catalog: Catalog, query: ast.Query, table_scan: bool = True,
                     range_scan: bool = True) -> None:
    """ksqlDB's checks of a planned pull query, with its messages: only queryable tables (a
    CTAS's or a SOURCE table), no ROWPARTITION/ROWOFFSET, and, when table scans are disabled, a
    WHERE clause that pins the key (`_check_key_lookup`)."""
    source = catalog.get_source(query.from_.name)
    if source is None:
        return   # the planner reports unknown sources
    if source.is_table and not source.is_source and not catalog.queries_writing(source.name):
        raise KsqlStatementException(
            f"The `{source.name}` table isn't queryable. To derive a queryable table, you can do "
            f"'CREATE TABLE QUERYABLE_{source.name} AS SELECT * FROM {source.name}'.{_PULL_HELP}")
    selected = set()
    for item in query.select:
        if isinstance(item, ast.SelectExpr):
            selected |= referenced_columns(item.expr)
    _check_pseudo_columns(selected, "SELECT")
    if query.where is not None:
        _check_pseudo_columns(referenced_columns(query.where), "WHERE")
    if source.is_table and query.where is not None:
        _check_in_key_types(source, query.where)
    if source.is_table and not table_scan:
        _check_key_lookup(source, query.where, range_scan)


def _check_in_key_types(source: DataSource, where: ast.Expr) -> None:
    """`key IN ('10', ...)` on a numeric key: ksqlDB converts each value to the key's type."""
    keys = {c.name: c for c in source.schema.key_columns}
    for disjunct in _split(where, "OR"):
        for term in _split(disjunct, "AND"):
            if isinstance(term, ast.InList) and isinstance(term.value, ast.ColumnRef) and term.value.name in keys:
                column = keys[term.value.name]
                for item in term.items:
                    if isinstance(item, ast.StringLiteral) and str(column.type) not in ("STRING", "VARCHAR"):
                        raise KsqlStatementException(f"'{item.value}' can not be converted to the type of the "
                                                     f"key column: {column.name} {column.type} KEY")


def _check_pseudo_columns(names: set[str], clause: str) -> None:
    bad = [n for n in _PULL_DISALLOWED_COLUMNS if n in names]
    if bad:
        listed = ", ".join(f"`{n}`" for n in bad)
        raise KsqlStatementException(f"Pull queries don't support the following columns in {clause} clauses: {listed}")


def _split(expr: ast.Expr, op: str) -> list[ast.Expr]:
    if isinstance(expr, ast.LogicalBinary) and expr.op.upper() == op:
        return _split(expr.left, op) + _split(expr.right, op)
    return [expr]


def _check_key_lookup(source: DataSource, where: Optional[ast.Expr], range_scan: bool) -> None:
    """Without table scans, every disjunct of WHERE must look keys up: `key = value` or
    `key IN (...)` per key column (a single range on a STRING key when range scans are on)."""
    key_columns = {c.name: c for c in source.schema.key_columns}
    scan_needed = "Query requires table scan to be enabled"
    if where is None:
        raise KsqlStatementException(scan_needed)
    disjuncts = _split(where, "OR")
    for disjunct in disjuncts:
        constrained: dict[str, list[str]] = {}
        for term in _split(disjunct, "AND"):
            if isinstance(term, ast.Like):
                raise KsqlStatementException("Like condition must be between strings")
            column, op = _key_constraint(term, key_columns)
            if column is not None:
                constrained.setdefault(column, []).append(op)
        if not constrained:
            raise KsqlStatementException(
                f"WHERE clause missing key column for disjunct: {_parenthesized(disjunct)}")
        if any(len(ops) > 1 for ops in constrained.values()):
            raise KsqlStatementException("A comparison condition on the key column cannot be combined "
                                         "with other comparisons such as an IN predicate")
        ranged = [name for name, ops in constrained.items() if ops[0] in _RANGE_OPS or ops[0] == "BETWEEN"]
        if len(constrained) < len(key_columns):
            raise KsqlStatementException("Multi-column sources must specify every key in the WHERE clause.")
        if ranged and (len(disjuncts) > 1 or len(key_columns) > 1 or not range_scan
                       or str(key_columns[ranged[0]].type) != "STRING"):
            raise KsqlStatementException(scan_needed)


def _key_constraint(term: ast.Expr, key_columns: dict) -> tuple[Optional[str], Optional[str]]:
    """(key column, operator) if `term` constrains a key column, else (None, None)."""
    if isinstance(term, ast.InList) and isinstance(term.value, ast.ColumnRef) and term.value.name in key_columns:
        return term.value.name, "IN"
    if isinstance(term, ast.Between) and isinstance(term.value, ast.ColumnRef) and term.value.name in key_columns:
        return term.value.name, "BETWEEN"
    if not isinstance(term, ast.Comparison):
        return None, None
    for side, other in ((term.left, term.right), (term.right, term.left)):
        if isinstance(side, ast.ColumnRef) and side.name in key_columns:
            if referenced_columns(other):
                raise KsqlStatementException("A comparison must be between a key column and a resolvable expression.")
            if term.op not in ("=",) + _RANGE_OPS:
                column = key_columns[side.name]
                raise KsqlStatementException(f"Bound on key columns '[`{column.name}` {column.type} KEY]' "
                                             "must currently be '='. ")
            return side.name, term.op
    return None, None


def _parenthesized(expr: ast.Expr) -> str:
    text = format_expression(expr)
    return text if text.startswith("(") else f"({text})"
