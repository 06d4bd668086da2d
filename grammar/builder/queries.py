"""The builder's rules for queries: the SELECT list, FROM and JOINs (WITHIN, GRACE PERIOD),
WINDOW, WHERE, GROUP BY, PARTITION BY, HAVING, EMIT and LIMIT, and durations.
"""
from __future__ import annotations

import re

from lark import Transformer, v_args

from pyksqlite.grammar import ast
from pyksqlite.grammar.builder.tokens import bounded_int, present, singular_unit
from pyksqlite.grammar.errors import semantic_error


@v_args(inline=True)
class QueryRules(Transformer):
    """Rules of queries (mixed into `AstBuilder`)."""

    # ---- queries ------------------------------------------------------------------------------

    def query_statement(self, query):
        return ast.QueryStatement(query)

    def query(self, select, from_, *rest):
        joins, (window, where, group_by, partition_by, having, emit, limit) = rest[:-7], rest[-7:]
        return ast.Query(select, from_, tuple(joins), window, where, group_by or (),
                         partition_by or (), having, emit, limit)

    def select_items(self, *items):
        return tuple(items)

    def select_all(self):
        return ast.SelectAll()

    def select_source_all(self, source):
        return ast.SelectAll(str(source))

    def select_struct_all(self, expr):
        return ast.SelectStructAll(expr)

    def select_expr(self, expr, alias):
        return ast.SelectExpr(expr, None if alias is None else str(alias))

    def aliased_source(self, name, alias):
        return ast.SourceRef(str(name), None if alias is None else str(alias))

    def join(self, join_type, source, within, on):
        return ast.JoinClause(join_type or "INNER", source, on, within)

    def join_type(self, *tokens):
        return present(tokens)[0].value.upper()

    def within_symmetric(self, duration, grace):
        return ast.WithinSpec(duration, duration, grace)

    def within_asymmetric(self, before, after, grace):
        return ast.WithinSpec(before, after, grace)

    def grace_period(self, duration):
        return duration

    def window(self, spec):
        return spec

    def tumbling(self, size, *options):
        return ast.WindowSpec("TUMBLING", size=size, **dict(options))

    def hopping(self, size, advance, *options):
        return ast.WindowSpec("HOPPING", size=size, advance=advance, **dict(options))

    def session(self, gap, *options):
        return ast.WindowSpec("SESSION", gap=gap, **dict(options))

    def retention(self, duration):
        return "retention", duration

    def grace(self, duration):
        return "grace", duration

    def where(self, expr):
        return expr

    having = where

    def grouping(self, *exprs):
        return tuple(exprs)

    def group_by(self, grouping):
        return grouping

    partition_by = group_by

    def emit(self, _emit, kind):
        return kind.value.upper()

    def limit(self, *tokens):
        # ksqlDB parses any number here and rejects what Integer.parseInt does not take.
        text = "".join(str(t) for t in tokens if t is not None)
        if not re.fullmatch(r"-?\d+", text):
            raise semantic_error("Failed to prepare statement: Value must be integer for command: LIMIT")
        return bounded_int(text, 31, "Failed to prepare statement: Value must be integer for command: LIMIT")

    def duration(self, value, unit):
        return ast.Duration(bounded_int(value.value, 63, "Invalid duration"), unit)

    def time_unit(self, token):
        return singular_unit(token.value)
