"""Joins, planned as relations: FROM a JOIN b ON ... [JOIN c ON ...], evaluated left to right.

`plan_join` checks a join as ksqlDB does (`join_checks`: source kinds, join types, the ON
condition, formats, windows) and builds a `JoinRelation` (`join_relation`): its layout exposes
every column of every source (so `a.col` resolves, an unqualified name shared by two sources is
ambiguous), the join key as the result's key, and per-source ROWTIME (`a.ROWTIME`).

The physical side is `pyksqlite.operators.join_driver.JoinOperators`: one decoder per source and one
join operator per JOIN clause (stream-stream, stream-table, table-table, foreign-key), reading the
plan as data (`pyksqlite.operators.join_spec`).
"""
from __future__ import annotations

from typing import Optional

from pyksqlite.catalog.metastore import STREAM, TABLE, Catalog
from pyksqlite.common.schema import KEY
from pyksqlite.common.types import BIGINT
from pyksqlite.expressions.compiler import ExpressionCompiler
from pyksqlite.expressions.scope import ColumnBinding, Scope, UnresolvedColumnException
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression
from pyksqlite.operators.base import WINDOW_BOUNDS, Field
from pyksqlite.operators.join_spec import (FOREIGN_KEY, JOIN_KEY_COL, STREAM_STREAM, STREAM_TABLE, TABLE_TABLE,
                                           JoinStepSpec, KeyRef, Leaf)
from pyksqlite.operators.source import source_layout
from pyksqlite.planner.join_checks import (check_condition_sources, check_foreign_key_join, check_join_condition,
                                           check_join_order, check_join_type, check_key_type, check_sources,
                                           check_types_match, check_windows, column_ref, condition_text,
                                           oriented_sides, qualify)
from pyksqlite.planner.join_relation import HIDDEN_KEY, JoinLayout, JoinRelation
from pyksqlite.planner.relation import resolve_source
from pyksqlite.planner.rewrite import referenced_columns

__all__ = ["plan_join", "JoinRelation", "STREAM_STREAM", "STREAM_TABLE", "TABLE_TABLE", "FOREIGN_KEY"]


def plan_join(catalog: Catalog, query: ast.Query) -> JoinRelation:
    """The relation of a FROM clause with JOINs, checked as ksqlDB checks it."""
    refs = [query.from_] + [j.source for j in query.joins]
    sources = [resolve_source(catalog, ref) for ref in refs]
    check_sources(sources)
    leaves = []
    for i, (ref, source) in enumerate(zip(refs, sources)):
        base = source_layout(source, ref.effective_name)
        fields = [Field(f.name, f.type, f"s{i}_{f.sql_name}", f.namespace, ref.effective_name) for f in base.fields]
        leaves.append(Leaf(i, source, ref.effective_name, fields))
    check_condition_sources(query, leaves)
    steps: list[JoinStepSpec] = []
    left_kind = leaves[0].source.kind
    key_ref: Optional[KeyRef] = None
    viable: list[KeyRef] = []
    synthetic = False
    fk_columns: list[KeyRef] = []
    key_type = None
    for number, clause in enumerate(query.joins):
        right = leaves[number + 1]
        left_leaves = leaves[:number + 1]
        step, left_ref, right_ref = _plan_step(clause, left_leaves, right, left_kind, key_ref, viable,
                                               synthetic, fk_columns)
        steps.append(step)
        key_type = step.key_type
        if step.join_type == FOREIGN_KEY:
            fk_columns = [KeyRef(left_leaves[0].alias, c.name) for c in left_leaves[0].source.schema.key_columns] \
                if number == 0 else fk_columns
            key_ref, viable, synthetic = None, list(fk_columns), False
            key_type = fk_columns[0] and next(f for f in left_leaves[0].fields if f.name == fk_columns[0].name).type
        elif clause.kind == "FULL":
            key_ref, viable, synthetic, fk_columns = None, [], True, []
        elif left_ref is not None:
            carried = viable if (left_ref in viable or left_ref == key_ref) and not synthetic else []
            viable = _unique(carried + [left_ref] + ([right_ref] if right_ref else []))
            key_ref = carried[0] if carried else left_ref
            if fk_columns and len(fk_columns) == 1:
                viable = _unique(fk_columns + viable)
                key_ref = fk_columns[0]
            synthetic, fk_columns = False, []
        elif right_ref is not None:
            key_ref, viable, synthetic, fk_columns = right_ref, [right_ref], False, []
        else:
            key_ref, viable, synthetic, fk_columns = None, [], True, []
        if step.join_type == STREAM_TABLE or step.join_type == STREAM_STREAM:
            left_kind = STREAM
        else:
            left_kind = TABLE
    synthetic_name = _synthetic_name(leaves) if synthetic else None
    key_binding = ColumnBinding(JOIN_KEY_COL, key_type)
    fields = [f for leaf in leaves for f in leaf.fields]
    if synthetic_name:
        fields.insert(0, Field(synthetic_name, key_type, JOIN_KEY_COL, KEY, None))
    else:
        fields.append(Field(HIDDEN_KEY, key_type, JOIN_KEY_COL, KEY, None))
    if leaves[0].source.window is not None:  # the result's window, carried to a windowed sink's key
        fields += [Field(f"${name}", BIGINT, sql_name, KEY, None) for name, sql_name in WINDOW_BOUNDS]
    layout = JoinLayout(fields, leaves, key_ref if not synthetic else None, key_binding,
                        has_tombstones=left_kind == TABLE)
    join_columns = frozenset().union(*(referenced_columns(c.on) for c in query.joins))
    return JoinRelation(leaves, steps, layout, left_kind, synthetic_name, key_ref if not synthetic else None,
                        viable, fk_columns, key_type, join_columns)


def _plan_step(clause: ast.JoinClause, left_leaves: list[Leaf], right: Leaf, left_kind: str,
               key_ref: Optional[KeyRef], viable: list[KeyRef], synthetic: bool, fk_columns: list[KeyRef]):
    """One JOIN clause: the tree so far (`left_leaves`, a `left_kind` result) joined with `right`,
    given the result key so far. Returns the step and the key columns each side joins on."""
    all_leaves = left_leaves + [right]
    on = clause.on
    check_join_condition(on)
    text = condition_text(on, all_leaves)
    got = f"{format_expression(qualify(on.left, all_leaves))} = {format_expression(qualify(on.right, all_leaves))}"
    left_expr, right_expr = oriented_sides(on, all_leaves, right, text)
    left_name = left_leaves[0].source.name
    check_join_order(clause, left_kind, left_name, right)
    left_typed = _compile_on(ExpressionCompiler(_side_scope(left_leaves)), left_expr)
    right_typed = _compile_on(ExpressionCompiler(_side_scope([right])), right_expr)
    check_types_match(left_expr, left_typed.type, right_expr, right_typed.type, left_leaves, right)
    left_ref = column_ref(left_expr, left_leaves)
    right_ref = column_ref(right_expr, [right])
    check_key_type(left_typed.type, left_ref)
    right_is_pk = right_ref is not None and [c.name for c in right.source.schema.key_columns] == [right_ref.name]
    check_join_type(clause, left_kind, left_name, right, right_is_pk, got)
    if left_kind == STREAM and right.source.kind == STREAM:
        join_type = STREAM_STREAM
        check_windows(left_leaves, right, left_ref, right_ref)
    elif left_kind == STREAM:
        join_type = STREAM_TABLE
    else:
        left_is_key = left_ref is not None and (
            (not synthetic and not fk_columns and (left_ref == key_ref or left_ref in viable))
            or (len(left_leaves) == 1 and [c.name for c in left_leaves[0].source.schema.key_columns] == [left_ref.name])
            or (fk_columns and len(fk_columns) == 1 and left_ref == fk_columns[0]))
        join_type = TABLE_TABLE if left_is_key else FOREIGN_KEY
        if join_type == FOREIGN_KEY:
            check_foreign_key_join(clause)
    before = after = 0
    grace = None
    if clause.within is not None:
        before, after = clause.within.before.millis, clause.within.after.millis
        grace = clause.within.grace.millis if clause.within.grace is not None else None
    left_window, right_window = _window_key_columns(left_leaves, left_ref, right, join_type)
    step = JoinStepSpec(clause.kind, join_type, right, left_leaves, left_typed.sql, right_typed.sql,
                        _plain_column(left_expr, left_leaves), _plain_column(right_expr, [right]), left_typed.type,
                        before, after, grace, text, left_window, right_window)
    return step, left_ref, right_ref


def _window_key_columns(left_leaves: list[Leaf], left_ref: Optional[KeyRef], right: Leaf,
                        join_type: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The window bounds each side's join key includes: none unless both sides are windowed."""
    left = next((leaf for leaf in left_leaves if left_ref and leaf.alias == left_ref.alias), left_leaves[0])
    if join_type == FOREIGN_KEY or left.source.window is None or right.source.window is None:
        return (), ()
    bounds = WINDOW_BOUNDS if left.source.window.is_session else WINDOW_BOUNDS[:1]
    return (tuple(f"s{left.index}_{sql_name}" for _, sql_name in bounds),
            tuple(f"s{right.index}_{sql_name}" for _, sql_name in bounds))


def _unique(refs: list[KeyRef]) -> list[KeyRef]:
    out: list[KeyRef] = []
    for ref in refs:
        if ref not in out:
            out.append(ref)
    return out


def _synthetic_name(leaves: list[Leaf]) -> str:
    taken = {f.name for leaf in leaves for f in leaf.fields}
    if "ROWKEY" not in taken:
        return "ROWKEY"
    n = 1
    while f"ROWKEY_{n}" in taken:
        n += 1
    return f"ROWKEY_{n}"


def _side_scope(leaves: list[Leaf]) -> Scope:
    columns: dict[str, ColumnBinding] = {}
    qualified: dict[tuple[str, str], ColumnBinding] = {}
    counts: dict[str, int] = {}
    for leaf in leaves:
        for f in leaf.fields:
            binding = ColumnBinding(f.sql_name, f.type)
            qualified[(leaf.alias, f.name)] = binding
            counts[f.name] = counts.get(f.name, 0) + 1
            columns.setdefault(f.name, binding)
        qualified[(leaf.alias, "ROWTIME")] = ColumnBinding(leaf.rowtime_col, BIGINT)
    ambiguous = {n for n, c in counts.items() if c > 1}
    for n in ambiguous:
        columns.pop(n)
    return Scope(columns, qualified, ambiguous)


def _compile_on(compiler: ExpressionCompiler, expr: ast.Expr):
    try:
        return compiler.compile(expr)
    except UnresolvedColumnException as error:
        raise error.in_clause("JOIN ON") from None


def _plain_column(expr: ast.Expr, leaves: list[Leaf]) -> Optional[str]:
    ref = column_ref(expr, leaves)
    if ref is None:
        return None
    leaf = next(leaf for leaf in leaves if leaf.alias == ref.alias)
    return next(f.sql_name for f in leaf.fields if f.name == ref.name)
