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

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from pyksqlite.catalog.metastore import TABLE, WindowInfo
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.aggregates import BoundAggregate, bind_aggregate, column_arg_count
from pyksqlite.expressions.compiler import ExpressionCompiler
from pyksqlite.expressions.functions import default_registry
from pyksqlite.operators.base import (WINDOWEND_COL, WINDOWSTART_COL, BatchLayout, Field)
from pyksqlite.planner.logical import OutputExpr, PlanOverRelation, _GeneratedNames, _natural_name
from pyksqlite.planner.relation import RelationPlan, SourceRelation
from pyksqlite.planner.rewrite import referenced_columns
from pyksqlite.common.schema import KEY, VALUE, WINDOWEND, WINDOWSTART, Column, LogicalSchema
from pyksqlite.common.types import BIGINT, SqlType
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression, quote_identifier

DEFAULT_GRACE_BASE_MS = 24 * 3600 * 1000
DEFAULT_RETENTION_MS = 24 * 3600 * 1000
AGG_PREFIX = "KSQL_AGG_VARIABLE_"
KEY_PREFIX = "KSQL_GROUP_KEY_"
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

    def explain(self) -> str:
        lines = [f"PROJECT key [{', '.join(_describe(o) for o in self.keys)}] "
                 f"value [{', '.join(_describe(o) for o in self.values)}]"]
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


def _describe(o: OutputExpr) -> str:
    return f"{format_expression(o.expr)} AS {quote_identifier(o.name)}"


# --------------------------------------------------------------------------------------------
# planning

def plan_aggregation(planner, relation: RelationPlan, query: ast.Query, sink_name: Optional[str]):
    config = getattr(planner, "config", None)
    config = dict(getattr(config, "properties", config) or {})
    registry = default_registry()
    _check_sources(relation, query)
    if query.emit == "FINAL" and query.window is None:
        raise KsqlStatementException("EMIT FINAL is only supported for windowed aggregations.")
    compiler = ExpressionCompiler(relation.layout.scope())
    group_by = _check_group_by(query, relation, registry)
    _check_window_bounds(query.having, relation)
    group_types = [_compile_type(compiler, g, "GROUP BY") for g in group_by]
    window_plan = _window_plan(query.window, query.emit == "FINAL")

    items = _select_items(query.select, relation)
    for _, expr in items:   # unknown functions fail first, as ksqlDB reports them
        for node in _walk(expr):
            if isinstance(node, ast.FunctionCall):
                registry.get(node.name)
    aggregates = _collect_aggregates(items, query.having, registry, compiler, config)
    if query.group_by and not aggregates:
        raise KsqlStatementException(
            "GROUP BY requires aggregate functions in either the SELECT or HAVING clause.")
    _check_intermediate_format(relation, aggregates)
    if relation.result_kind == TABLE:
        _check_undo(aggregates)

    rewriter = _Rewriter(group_by, aggregates, window_plan is not None)
    plan_shell = AggregationPlan(relation, query.where, group_by, group_types, aggregates, [], [], None,
                                 window_plan, query.emit, query.limit, config=config)
    out_compiler = ExpressionCompiler(plan_shell.output_scope_layout().scope())

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
    _check_duplicate_columns(keys, values)
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


def _check_sources(relation: RelationPlan, query: ast.Query) -> None:
    for source in relation.sources:
        if source.window is not None and source.is_table:
            raise KsqlStatementException("KSQL does not support persistent queries on windowed tables.")
    kafka = [s.name for s in relation.sources if s.value_format.name == "KAFKA"]
    if kafka and query.group_by:
        raise KsqlStatementException(
            f"Source(s) {', '.join(kafka)} are using the 'KAFKA' value format. "
            "This format does not yet support GROUP BY.")


def _check_group_by(query: ast.Query, relation: RelationPlan, registry) -> list[ast.Expr]:
    seen: list[ast.Expr] = []
    for expr in query.group_by:
        for node in _walk(expr):
            if isinstance(node, ast.FunctionCall) and registry.kind_of(node.name) == "aggregate":
                raise KsqlStatementException(
                    f"GROUP BY does not support aggregate functions: {node.name} is an aggregate function.")
        _check_window_bounds(expr, relation)
        if any(_equivalent(expr, previous) for previous in seen):
            shown = format_expression(_qualify(expr, relation))
            raise KsqlStatementException(f"Duplicate GROUP BY expression: {shown}")
        seen.append(expr)
    return seen


def _check_window_bounds(expr: Optional[ast.Expr], relation: RelationPlan) -> None:
    """WINDOWSTART/WINDOWEND of the aggregation's own window exist only in its SELECT."""
    for node in _walk(expr) if expr is not None else ():
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
    names = _GeneratedNames(taken)
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
            items.append((item.alias or _natural_name(item.expr) or names.next(), item.expr))
    return items


def _collect_aggregates(items, having, registry, compiler: ExpressionCompiler, config) -> list[AggregateCall]:
    calls: list[AggregateCall] = []
    roots = [expr for _, expr in items] + ([having] if having is not None else [])
    for root in roots:
        for node in _walk(root, skip_aggregate_args=False):
            if not (isinstance(node, ast.FunctionCall) and registry.kind_of(node.name) == "aggregate"):
                continue
            for arg in node.args:
                for inner in _walk(arg):
                    if isinstance(inner, ast.FunctionCall) and registry.kind_of(inner.name) == "aggregate":
                        raise KsqlStatementException(
                            f"Aggregate functions can not be nested: {format_expression(node)}")
            if any(_equivalent(node, c.call) for c in calls):
                continue
            calls.append(_bind_call(node, compiler, config, len(calls)))
    return calls


def _bind_call(node: ast.FunctionCall, compiler: ExpressionCompiler, config, index: int) -> AggregateCall:
    from pyksqlite.expressions.compiler import evaluate_constant
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


def _check_intermediate_format(relation: RelationPlan, aggregates: list[AggregateCall]) -> None:
    if any(a.bound.complex_intermediate for a in aggregates) and \
            any(s.value_format.name == "DELIMITED" for s in relation.sources):
        raise KsqlStatementException(
            "One of the functions used in the statement has an intermediate type that the value format "
            "can not handle. Please remove the function or change the format.")


def _check_undo(aggregates: list[AggregateCall]) -> None:
    bad = [a.call.name for a in aggregates if not a.bound.undo]
    if bad:
        raise KsqlStatementException(
            f"The aggregation function(s) ({', '.join(dict.fromkeys(bad))}) cannot be applied to a table "
            "source, only to a stream source.")


def _split_keys(planner, group_by, rewritten, outputs: list[OutputExpr], sink_name):
    keys: list[OutputExpr] = []
    key_items: set[int] = set()
    missing: list[str] = []
    for index, expr in enumerate(group_by):
        matches = [i for i, (_, original, _) in enumerate(rewritten) if _equivalent(original, expr)]
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


def _check_duplicate_columns(keys: list[OutputExpr], values: list[OutputExpr]) -> None:
    seen: set[str] = set()
    for item in keys + values:
        if item.name in seen:
            raise KsqlStatementException(f"Duplicate value columns found in schema: `{item.name}` {item.type}")
        seen.add(item.name)


# --------------------------------------------------------------------------------------------
# expression helpers

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


def _walk(expr, skip_aggregate_args: bool = False):
    yield expr
    for child in _children(expr):
        yield from _walk(child, skip_aggregate_args)


def _strip(expr):
    """The expression with source qualifiers of plain columns removed (for matching)."""
    if isinstance(expr, ast.ColumnRef):
        return ast.ColumnRef(expr.name)
    if not dataclasses.is_dataclass(expr):
        return expr
    changes = {}
    for f in dataclasses.fields(expr):
        value = getattr(expr, f.name)
        if isinstance(value, (ast.Expr, ast.WhenClause)):
            changes[f.name] = _strip(value)
        elif isinstance(value, tuple):
            changes[f.name] = tuple(tuple(_strip(x) for x in v) if isinstance(v, tuple) else _strip(v)
                                    for v in value)
    return dataclasses.replace(expr, **changes) if changes else expr


def _equivalent(a: ast.Expr, b: ast.Expr) -> bool:
    return _strip(a) == _strip(b)


class _Rewriter:
    """Replaces GROUP BY expressions and aggregate calls by the output stage's columns; reports
    the input columns left over (not part of GROUP BY)."""

    def __init__(self, group_by: list[ast.Expr], aggregates: list[AggregateCall], windowed: bool):
        self.groups = [(_strip(g), ast.ColumnRef(f"{KEY_PREFIX}{i}")) for i, g in enumerate(group_by)]
        self.aggregates = [(_strip(a.call), ast.ColumnRef(a.column)) for a in aggregates]
        self.windowed = windowed

    def rewrite(self, expr: ast.Expr) -> tuple[ast.Expr, list[str]]:
        leftovers: list[str] = []
        return self._rewrite(expr, leftovers), leftovers

    def _rewrite(self, expr, leftovers):
        if isinstance(expr, ast.WhenClause):
            return ast.WhenClause(self._rewrite(expr.condition, leftovers), self._rewrite(expr.result, leftovers))
        if not isinstance(expr, ast.Expr):
            return expr
        stripped = _strip(expr)
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


# --------------------------------------------------------------------------------------------
# physical plan

def build_aggregation(plan: AggregationPlan, sink_factory, processing_log, query_id):
    """relation -> input Select (k*, g*, a*) -> Aggregate / SessionAggregate -> sink."""
    from pyksqlite.operators.aggregate import Aggregate
    from pyksqlite.operators.aggregate_output import AggregateOutput
    from pyksqlite.operators.select import OutputColumn, Select
    from pyksqlite.planner.physical import PhysicalPlan

    relation_ops = plan.relation.build(processing_log, query_id)
    layout = plan.input_layout
    compiler = ExpressionCompiler(layout.scope())
    outputs: list[OutputColumn] = []
    source_keys = None
    if plan.table_input:
        source_keys = 0
        for column in plan.relation.key_columns:
            field = layout.find(column.name)
            if field is None:   # a join's rows are keyed by its join key (no source of its own)
                field = next((f for f in layout.key_fields if f.source is None), None)
            if field is not None:
                outputs.append(OutputColumn(f"k{source_keys}", field.sql_name, column.name))
                source_keys += 1
    for i, expr in enumerate(plan.group_by):
        outputs.append(OutputColumn(f"g{i}", compiler.compile_projection(expr).sql, format_expression(expr)))
    arg_columns: list[list[str]] = []
    counter = 0
    for aggregate in plan.aggregates:
        names = []
        for arg in aggregate.args:
            name = f"a{counter}"
            counter += 1
            outputs.append(OutputColumn(name, compiler.compile_projection(arg).sql, format_expression(arg)))
            names.append(name)
        arg_columns.append(names)
    predicate_sql = predicate_text = None
    if plan.where is not None:
        predicate_sql = compiler.compile_predicate(plan.where, clause="WHERE").sql
        predicate_text = format_expression(plan.where)
    input_fields = tuple(Field(o.sql_name, BIGINT, o.sql_name) for o in outputs)
    select = Select(outputs, predicate_sql, predicate_text, layout,
                    BatchLayout(input_fields, has_tombstones=layout.has_tombstones), processing_log, query_id)

    out_compiler = ExpressionCompiler(plan.output_scope_layout().scope())
    out_columns, fields = [], []
    for prefix, namespace, items in (("k", KEY, plan.keys), ("v", VALUE, plan.values)):
        for index, item in enumerate(items):
            compiled = out_compiler.compile_projection(item.expr)
            out_columns.append(OutputColumn(f"{prefix}{index}", compiled.sql, format_expression(item.expr)))
            fields.append(Field(item.name, item.type, f"{prefix}{index}", namespace))
    having_sql = out_compiler.compile_predicate(plan.having, clause="HAVING").sql if plan.having is not None else None
    out_layout = BatchLayout(tuple(fields), has_tombstones=True)
    bound = [a.bound for a in plan.aggregates]
    output = AggregateOutput(bound, [], len(plan.group_by), plan.window_plan is not None, out_columns,
                             having_sql, out_layout)
    per_record = _cache_off(plan)
    sink = sink_factory(out_layout)
    encoder = getattr(sink, "value_encoding_sql", None)
    value_names = [f.sql_name for f in out_layout.value_fields]
    encoding = encoder(value_names) if encoder else None
    sink_source = getattr(sink, "sink", None)
    sink_reads = {sink_source.timestamp_column} if sink_source is not None and sink_source.timestamp_column else set()
    dropped = tuple(f.sql_name for f in out_layout.value_fields if f.name not in sink_reads) if encoding else ()
    if plan.window_plan is not None and plan.window_plan.kind == "SESSION":
        from pyksqlite.operators.session_aggregate import SessionAggregate
        operator = SessionAggregate(bound, arg_columns, len(plan.group_by), plan.window_plan, output,
                                    plan.emit == "FINAL", per_record)
    else:
        operator = Aggregate(bound, arg_columns, len(plan.group_by), counter, source_keys, plan.window_plan,
                             output, plan.emit == "FINAL", per_record, encoding, dropped)
    return PhysicalPlan(relation_ops, [select, operator], sink)


def _cache_off(plan: AggregationPlan) -> bool:
    """Whether every update is emitted (ksqlDB with its record cache off), else coalesced per batch
    (ksqlDB's default: a 10 MB record cache, flushed per commit)."""
    value = plan.config.get("ksql.streams.cache.max.bytes.buffering",
                            plan.config.get("cache.max.bytes.buffering"))
    if value is None:
        return False
    try:
        return int(value) == 0
    except (TypeError, ValueError):
        return True
