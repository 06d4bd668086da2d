"""Aggregations (GROUP BY, WINDOW, HAVING): the logical plan and ksqlDB's checks.

An aggregation runs in three stages, each compiled once here:

1. *input*: over the relation's rows, WHERE, the GROUP BY expressions (`g0..`) and the column
   arguments of every aggregate call (`a0..`); a table source also carries its key (`k0..`) so
   an update can retract the row's previous contribution.
2. *aggregate*: per group (and window) the running aggregates (`pyksqlite.operators.aggregate` for
   no window / TUMBLING / HOPPING, `pyksqlite.operators.session_aggregate` for SESSION).
3. *output*: the SELECT list and HAVING, rewritten so that GROUP BY expressions and aggregate
   calls read the aggregate stage's columns; a row that stops matching HAVING is a tombstone.

The result is a TABLE keyed by the GROUP BY expressions, in GROUP BY order. A key column is
named after the select item that projects its expression (ksqlDB requires one).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from pyksqlite.catalog.metastore import TABLE, WindowInfo
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.aggregate_call import BoundAggregate
from pyksqlite.expressions.aggregates import bind_aggregate, column_arg_count
from pyksqlite.expressions.compiler import ExpressionCompiler, evaluate_constant
from pyksqlite.expressions.default_functions import default_registry
from pyksqlite.expressions.scope import Scope
from pyksqlite.operators.base import (WINDOWEND_COL, WINDOWSTART_COL, BatchLayout, Field)
from pyksqlite.planner.aggregate_rewrite import KEY_PREFIX, AggregateRewriter, equivalent, walk
from pyksqlite.planner.aggregation_checks import (check_duplicate_columns, check_group_by, check_intermediate_format,
                                                 check_sources, check_undo, check_window_bounds)
from pyksqlite.planner.outputs import GeneratedNames, OutputExpr, PlanOverRelation, describe_output, natural_name
from pyksqlite.planner.relation import RelationPlan, SourceRelation
from pyksqlite.planner.physical import build_aggregation
from pyksqlite.planner.rewrite import referenced_columns
from pyksqlite.common.schema import KEY, VALUE, WINDOWEND, WINDOWSTART, Column, LogicalSchema
from pyksqlite.common.types import BIGINT, SqlType
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression

DEFAULT_GRACE_BASE_MS = 24 * 3600 * 1000
DEFAULT_RETENTION_MS = 24 * 3600 * 1000
AGG_PREFIX = "KSQL_AGG_VARIABLE_"
NON_SCALAR_ARGS = {"EARLIEST_BY_OFFSET", "LATEST_BY_OFFSET", "TOPK", "TOPKDISTINCT"}


@dataclass(frozen=True)
class WindowPlan:
    """A WINDOW clause with its defaults applied (milliseconds)."""
    kind: str                   # TUMBLING | HOPPING | SESSION
    size_ms: int = 0            # TUMBLING/HOPPING size; SESSION gap
    advance_ms: int = 0
    grace_ms: int = 0
    retention_ms: int = 0           # 0: the default

    @property
    def info(self) -> WindowInfo:
        return WindowInfo(self.kind, None if self.kind == "SESSION" else self.size_ms)

    def describe(self) -> str:
        parts = [f"SIZE {self.size_ms} ms" if self.kind != "SESSION" else f"GAP {self.size_ms} ms"]
        if self.kind == "HOPPING":
            parts.append(f"ADVANCE {self.advance_ms} ms")
        parts.append(f"GRACE {self.grace_ms} ms")
        return f"{self.kind} ({', '.join(parts)})"


@dataclass(frozen=True)
class AggregateCall:
    """One distinct aggregate call of the query: its column arguments and its result column."""
    call: ast.FunctionCall
    args: tuple[ast.Expr, ...]
    bound: BoundAggregate
    column: str                 # the name the output stage reads it by


@dataclass
class AggregationPlan(PlanOverRelation):
    relation: RelationPlan
    where: Optional[ast.Expr]
    group_by: list[ast.Expr]
    group_types: list[SqlType]
    aggregates: list[AggregateCall]
    keys: list[OutputExpr]          # output key columns, one per GROUP BY expression
    values: list[OutputExpr]        # rewritten over the output scope
    having: Optional[ast.Expr]      # rewritten over the output scope
    window_plan: Optional[WindowPlan]
    emit: Optional[str]
    limit: Optional[int] = None
    result_kind: str = TABLE
    config: dict = field(default_factory=dict)

    # --- the surface every plan offers (see LogicalPlan) ---
    @property
    def input_layout(self) -> BatchLayout:
        return self.relation.layout

    @property
    def window(self) -> Optional[WindowInfo]:
        return self.window_plan.info if self.window_plan else None

    @property
    def table_input(self) -> bool:
        return self.relation.result_kind == TABLE

    def schema(self) -> LogicalSchema:
        columns = [Column(k.name, k.type, KEY) for k in self.keys]
        columns += [Column(v.name, v.type, VALUE) for v in self.values]
        return LogicalSchema(tuple(columns))

    def output_scope_layout(self) -> BatchLayout:
        """The columns the output stage reads: group keys g0.., aggregates r0.., window bounds."""
        fields = [Field(f"{KEY_PREFIX}{i}", t, f"g{i}", KEY) for i, t in enumerate(self.group_types)]
        fields += [Field(a.column, a.bound.result_type, f"r{i}") for i, a in enumerate(self.aggregates)]
        if self.window_plan is not None:
            fields += [Field(WINDOWSTART, BIGINT, WINDOWSTART_COL), Field(WINDOWEND, BIGINT, WINDOWEND_COL)]
        return BatchLayout(tuple(fields))

    def output_scope(self) -> Scope:
        """The output stage's scope, whose internal columns messages show as what they hold:
        the GROUP BY expression or the aggregate call (`SUM(VALUE)`)."""
        scope = self.output_scope_layout().scope()
        scope.shown_as.update({(None, f"{KEY_PREFIX}{i}"): g for i, g in enumerate(self.group_by)})
        scope.shown_as.update({(None, a.column): a.call for a in self.aggregates})
        return scope

    def explain(self) -> str:
        lines = [f"PROJECT key [{', '.join(describe_output(o) for o in self.keys)}] "
                 f"value [{', '.join(describe_output(o) for o in self.values)}]"]
        if self.having is not None:
            lines.append(f"HAVING {format_expression(self.having)}")
        aggs = ", ".join(format_expression(a.call) for a in self.aggregates)
        window = f" WINDOW {self.window_plan.describe()}" if self.window_plan else ""
        lines.append(f"AGGREGATE [{aggs}] GROUP BY [{', '.join(format_expression(g) for g in self.group_by)}]{window}")
        if self.where is not None:
            lines.append(f"FILTER {format_expression(self.where)}")
        lines += self.relation.explain()
        return "\n".join("  " * i + "> " + line for i, line in enumerate(lines))

    def build_physical(self, sink_factory, processing_log, query_id):
        return build_aggregation(self, sink_factory, processing_log, query_id)

    def emits_every_update(self) -> bool:
        """Whether every update is emitted (ksqlDB with its record cache off), else coalesced per
        batch (ksqlDB's default: a 10 MB record cache, flushed per commit)."""
        value = self.config.get("ksql.streams.cache.max.bytes.buffering",
                                self.config.get("cache.max.bytes.buffering"))
        if value is None:
            return False
        try:
            return int(value) == 0
        except (TypeError, ValueError):
            return True


# --------------------------------------------------------------------------------------------
# planning

def plan_aggregation(planner, relation: RelationPlan, query: ast.Query, sink_name: Optional[str]):
    config = getattr(planner, "config", None)
    config = dict(getattr(config, "properties", config) or {})
    registry = default_registry()
    check_sources(relation, query)
    if query.emit == "FINAL" and query.window is None:
        raise KsqlStatementException("EMIT FINAL is only supported for windowed aggregations.")
    compiler = ExpressionCompiler(relation.layout.scope())
    items = _select_items(query.select, relation)
    # ksqlDB checks the projection's names (its analyzer) before the GROUP BY.
    planner.check_reserved([OutputExpr(name, expr, None) for name, expr in items])
    group_by = check_group_by(query, relation, registry)
    check_window_bounds(query.having, relation)
    group_types = [_compile_type(compiler, g, "GROUP BY") for g in group_by]
    window_plan = _window_plan(query.window, query.emit == "FINAL")

    for _, expr in items:   # unknown functions fail first, as ksqlDB reports them
        for node in walk(expr):
            if isinstance(node, ast.FunctionCall):
                registry.get(node.name)
    aggregates = _collect_aggregates(items, query.having, registry, compiler, config)
    if query.group_by and not aggregates:
        raise KsqlStatementException(
            "GROUP BY requires aggregate functions in either the SELECT or HAVING clause.")
    check_intermediate_format(relation, aggregates)
    if relation.result_kind == TABLE:
        check_undo(aggregates)

    rewriter = AggregateRewriter(group_by, aggregates, window_plan is not None)
    plan_shell = AggregationPlan(relation, query.where, group_by, group_types, aggregates, [], [], None,
                                 window_plan, query.emit, query.limit, config=config)
    out_compiler = ExpressionCompiler(plan_shell.output_scope())

    rewritten, unmatched = [], []
    for name, expr in items:
        new_expr, leftovers = rewriter.rewrite(expr)
        if leftovers:
            unmatched.append(format_expression(expr))
        rewritten.append((name, expr, new_expr))
    if unmatched:
        raise KsqlStatementException(
            "Non-aggregate SELECT expression(s) not part of GROUP BY: " + ", ".join(unmatched)
            + "\nEither add the column(s) to the GROUP BY or remove them from the SELECT.")
    having = None
    if query.having is not None:
        having, leftovers = rewriter.rewrite(query.having)
        if leftovers:
            raise KsqlStatementException("Non-aggregate HAVING expression not part of GROUP BY: "
                                         + ", ".join(dict.fromkeys(leftovers)))
        out_compiler.compile_predicate(having, clause="HAVING")

    outputs = [OutputExpr(name, new_expr, _compile_type(out_compiler, new_expr, "SELECT"))
               for name, _, new_expr in rewritten]
    planner.check_reserved([OutputExpr(name, expr, o.type) for (name, expr, _), o in zip(rewritten, outputs)])
    keys, values = _split_keys(planner, group_by, rewritten, outputs, sink_name)
    check_duplicate_columns(keys, values)
    if planner.persistent and not values:
        raise KsqlStatementException("The projection contains no value columns.")
    plan_shell.keys, plan_shell.values, plan_shell.having = keys, values, having
    if isinstance(relation, SourceRelation):
        # Decode only the value columns the aggregation reads (JSON members are found by name).
        read = set().union(*(referenced_columns(e) for e in [expr for _, expr in items] + list(group_by)))
        for clause in (query.where, query.having):
            read |= referenced_columns(clause) if clause is not None else set()
        read |= {relation.source.timestamp_column} if relation.source.timestamp_column else set()
        plan_shell.relation = relation.reading_only(read)
    return plan_shell


def _compile_type(compiler: ExpressionCompiler, expr: ast.Expr, clause: str) -> SqlType:
    typed = compiler.compile_projection(expr) if clause == "SELECT" else compiler.compile(expr)
    if typed.type is None:
        raise KsqlStatementException(
            "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR).")
    return typed.type


def _window_plan(spec: Optional[ast.WindowSpec], final: bool) -> Optional[WindowPlan]:
    if spec is None:
        return None
    retention = spec.retention.millis if spec.retention else 0   # 0: the default (size + grace)
    if spec.kind == "SESSION":
        gap = spec.gap.millis
        grace = spec.grace.millis if spec.grace else (0 if final else max(DEFAULT_GRACE_BASE_MS - gap, 0))
        return WindowPlan("SESSION", gap, 0, grace, retention)
    size = spec.size.millis
    advance = spec.advance.millis if spec.kind == "HOPPING" and spec.advance else size
    if spec.kind == "HOPPING" and advance > size:
        raise KsqlStatementException(
            f"Window advance must not be greater than window size. Got size {size} and advance {advance}")
    if advance <= 0 or size <= 0:
        raise KsqlStatementException("Window size must be positive.")
    # EMIT FINAL (Kafka Streams' emit-on-window-close) has no legacy 24h grace: windows close at their end.
    grace = spec.grace.millis if spec.grace else (0 if final else max(DEFAULT_GRACE_BASE_MS - size, 0))
    return WindowPlan(spec.kind, size, advance, grace, retention)


def _select_items(select, relation: RelationPlan) -> list[tuple[str, ast.Expr]]:
    """(name, expression) per projected column, `*` expanded, names as ksqlDB gives them."""
    taken = {f.name for f in relation.layout.fields} | {i.alias for i in select
                                                       if isinstance(i, ast.SelectExpr) and i.alias}
    names = GeneratedNames(taken)
    items: list[tuple[str, ast.Expr]] = []
    for item in select:
        if isinstance(item, ast.SelectAll):
            fields = relation.layout.fields
            if item.source is not None:
                fields = [f for f in fields if f.source == item.source]
            items += [(f.name, ast.ColumnRef(f.name, f.source if item.source else None)) for f in fields]
        elif isinstance(item, ast.SelectStructAll):
            typed = ExpressionCompiler(relation.layout.scope()).compile(item.expr)
            if typed.type.base != "STRUCT":
                raise KsqlStatementException(f"Expected STRUCT type for {format_expression(item.expr)}->*")
            items += [(name, ast.Dereference(item.expr, name)) for name, _ in typed.type.fields]
        else:
            items.append((item.alias or natural_name(item.expr) or names.next(), item.expr))
    return items


def _collect_aggregates(items, having, registry, compiler: ExpressionCompiler, config) -> list[AggregateCall]:
    calls: list[AggregateCall] = []
    roots = [expr for _, expr in items] + ([having] if having is not None else [])
    for root in roots:
        for node in walk(root, skip_aggregate_args=False):
            if not (isinstance(node, ast.FunctionCall) and registry.kind_of(node.name) == "aggregate"):
                continue
            for arg in node.args:
                for inner in walk(arg):
                    if isinstance(inner, ast.FunctionCall) and registry.kind_of(inner.name) == "aggregate":
                        raise KsqlStatementException(
                            f"Aggregate functions can not be nested: {format_expression(node)}")
            if any(equivalent(node, c.call) for c in calls):
                continue
            calls.append(_bind_call(node, compiler, config, len(calls)))
    return calls


def _bind_call(node: ast.FunctionCall, compiler: ExpressionCompiler, config, index: int) -> AggregateCall:
    args = list(node.args)
    if node.name == "COUNT" and (node.star or not args):
        bound = bind_aggregate("COUNT", [], [], config)
        return AggregateCall(node, (), bound, f"{AGG_PREFIX}{index}")
    n_columns = column_arg_count(node.name, len(args), lambda: [compiler.compile(arg).type for arg in args])
    column_args, literal_args = args[:n_columns], args[n_columns:]
    literals: list[Any] = []
    for position, arg in enumerate(literal_args, start=n_columns + 1):
        if not _is_literal(arg):
            raise KsqlStatementException(
                f"Parameter {position} passed to function {node.name} must be a literal constant, "
                f"but was expression: '{format_expression(arg)}'")
        value, _ = evaluate_constant(arg)
        literals.append(value)
    types = [compiler.compile(arg).type for arg in column_args]
    bound = bind_aggregate(node.name, types, literals, config)
    return AggregateCall(node, tuple(column_args), bound, f"{AGG_PREFIX}{index}")


def _is_literal(expr: ast.Expr) -> bool:
    if isinstance(expr, ast.ArithmeticUnary):
        return _is_literal(expr.operand)
    return isinstance(expr, (ast.IntegerLiteral, ast.BooleanLiteral, ast.StringLiteral, ast.DoubleLiteral,
                             ast.DecimalLiteral))


def _split_keys(planner, group_by, rewritten, outputs: list[OutputExpr], sink_name):
    keys: list[OutputExpr] = []
    key_items: set[int] = set()
    missing: list[str] = []
    for index, expr in enumerate(group_by):
        matches = [i for i, (_, original, _) in enumerate(rewritten) if equivalent(original, expr)]
        if len(matches) > 1:
            shown = " and ".join(f"`{outputs[i].name}`" for i in matches)
            raise KsqlStatementException(f"The projection contains a key column more than once: {shown}.")
        if matches:
            key_items.add(matches[0])
            keys.append(outputs[matches[0]])
        else:
            missing.append(format_expression(expr))
    if missing and planner.persistent:
        noun = "grouping expression" if len(missing) == 1 else "grouping expressions"
        listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
        raise KsqlStatementException(
            "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"
            f"The query used to build `{sink_name}` must include the {noun} {listed} "
            f"in its projection (eg, SELECT {', '.join(missing)}...).")
    if not planner.persistent:
        return [], outputs
    values = [o for i, o in enumerate(outputs) if i not in key_items]
    return keys, values
