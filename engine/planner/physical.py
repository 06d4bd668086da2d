"""Logical plan -> physical plan: the operators that run a query, compiled once.

A physical plan is a chain: the relation's operators (decode, joins) -> the plan's operators
(Select, aggregation) -> a sink (a topic, or rows for a transient query). Expressions are
compiled here, once, to DuckDB SQL; EXPLAIN prints the chain, sink first.

A task runs a plan in two halves around the merge of its input partitions
(`pyksqlite.runtime.partition_group`): `prepare` does the stateless work as records are buffered (decoding,
which gives each row its event time; for a stateless plan, everything but the sink), and
`process_runs` the rest, on the rows in processing order.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Optional

import pyarrow as pa

from pyksqlite.expressions.compiler import ExpressionCompiler
from pyksqlite.expressions.python_udf_duck import has_side_effects, reporting_errors
from pyksqlite.operators.aggregate import Aggregate
from pyksqlite.operators.aggregate_output import AggregateOutput
from pyksqlite.operators.base import TOMBSTONE_COL, BatchLayout, Field, Operator
from pyksqlite.operators.fused import FusedJsonProjection
from pyksqlite.operators.select import OutputColumn, Select
from pyksqlite.operators.session_aggregate import SessionAggregate
from pyksqlite.operators.source import SourceDecode
from pyksqlite.operators.table_function import TableFunctionFlatten
from pyksqlite.planner.relation import RelationOperators
from pyksqlite.planner.rewrite import referenced_columns
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.common.schema import KEY, VALUE
from pyksqlite.common.types import BIGINT
from pyksqlite.grammar.formatter import format_expression


@dataclass
class PhysicalPlan:
    relation: RelationOperators
    operators: list[Operator]          # between the relation and the sink
    sink: Operator

    @property
    def output_layout(self) -> BatchLayout:
        return self.operators[-1].layout if self.operators else self.relation.layout

    # Where Python functions that fail on a record log it: (processing log, query id).
    function_errors: Optional[tuple] = None

    def process(self, records: pa.Table | pa.RecordBatch) -> pa.Table:
        """A batch of raw records, whole, in its own order."""
        with self._reporting_errors():
            batch = self.relation.process(records)
            for operator in self.operators:
                batch = operator.process(batch)
            return self.sink.process(batch)

    def _reporting_errors(self):
        """Python functions that fail on a record report it to this plan's processing log."""
        return reporting_errors(*(self.function_errors or (None, None)))

    @cached_property
    def stateless(self) -> bool:
        """No operator keeps state (known once: a snapshot of a large state is not cheap)."""
        return all(op.snapshot() is None for op in self.all_operators())

    def prepare(self, records: pa.Table) -> list[tuple[int, str, pa.Table]]:
        """The stateless half over raw records of any partitions: (tag, topic, rows) per kind of
        rows, each row with its `__rowtime`, `__partition` and `__offset`, in the records' order."""
        with self._reporting_errors():
            if not self.stateless:
                return self.relation.prepare(records)
            if records.num_rows == 0:
                return []
            batch = self.relation.process(records)
            for operator in self.operators:
                batch = operator.process(batch)
            return [(0, records.column("topic")[0].as_py(), batch)]

    def process_runs(self, runs: list[tuple[int, pa.Table]]) -> pa.Table:
        """The rest, over prepared rows in processing order."""
        with self._reporting_errors():
            if self.stateless:
                batches = [rows for _, rows in runs]
                batch = batches[0] if len(batches) == 1 else pa.concat_tables(batches, promote_options="permissive")
                return self.sink.process(batch)
            batch = self.relation.process_runs(runs)
            for operator in self.operators:
                batch = operator.process(batch)
            return self.sink.process(batch)

    def all_operators(self) -> list[Operator]:
        return [*self.relation.operators(), *self.operators, self.sink]

    def explain(self) -> str:
        chain = list(reversed(self.all_operators()))
        return "\n".join("  " * depth + " > [ " + op.describe() + " ]" for depth, op in enumerate(chain))


def build_physical_plan(plan, sink_factory, processing_log: ProcessingLog,
                        query_id: Optional[str]) -> PhysicalPlan:
    """`sink_factory(output_layout)` makes the sink operator (a topic or a row collector)."""
    physical = plan.build_physical(sink_factory, processing_log, query_id)
    physical.function_errors = (processing_log, query_id)
    return physical


def build_projection(plan, sink_factory, processing_log: ProcessingLog,
                     query_id: Optional[str]) -> PhysicalPlan:
    relation = plan.relation.build(processing_log, query_id)
    outputs, layout = _projection_outputs(plan)
    sink = sink_factory(layout)
    encoder = getattr(sink, "value_encoding_sql", None)
    encoding = encoder([f.sql_name for f in layout.value_fields]) if encoder else None
    sink_source = getattr(sink, "sink", None)
    sink_reads = frozenset([sink_source.timestamp_column]) if sink_source and sink_source.timestamp_column else frozenset()
    select = build_select(plan, processing_log, query_id, outputs, layout, encoding, sink_reads)
    if getattr(plan, "flatten", None) is not None:
        return PhysicalPlan(relation, [build_flatten(plan, processing_log, query_id), select], sink)
    once = has_side_effects(select.sql)   # a stateful UDF sees each record once
    fused = relation.fused_with(select) if hasattr(relation, "fused_with") and not once else None
    if fused is not None:  # a join that runs fused with its projection (`pyksqlite.operators.join_fused`)
        return PhysicalPlan(fused, [], sink)
    decode = relation.operators()[0] if len(relation.operators()) == 1 else None
    if isinstance(decode, SourceDecode) and not once and FusedJsonProjection.applies_to(decode):
        return PhysicalPlan(FusedJsonProjection(decode, select), [], sink)
    return PhysicalPlan(relation, [select], sink)


def build_flatten(plan, processing_log: ProcessingLog, query_id: Optional[str]) -> TableFunctionFlatten:
    """The flatMap step of a projection with table functions; it applies the WHERE, too."""
    predicate_sql = predicate_text = None
    if plan.where is not None:
        compiler = ExpressionCompiler(plan.relation.layout.scope())
        predicate_sql = compiler.compile_predicate(plan.where, clause="WHERE").sql
        predicate_text = format_expression(plan.where)
    calls = [(c.sql_name, c.list_sql, format_expression(c.call)) for c in plan.flatten.calls]
    return TableFunctionFlatten(calls, predicate_sql, predicate_text, plan.relation.layout,
                                plan.flatten.layout, processing_log, query_id)


def _projection_outputs(plan) -> tuple[list[OutputColumn], BatchLayout]:
    """The compiled key outputs k0.. and value outputs v0.. of a projection, and their layout."""
    compiler = ExpressionCompiler(plan.input_layout.scope())
    outputs, fields = [], []
    key_names = {f.name for f in plan.input_layout.key_fields}
    for prefix, namespace, items in (("k", KEY, plan.keys), ("v", VALUE, plan.values)):
        for index, item in enumerate(items):
            sql_name = f"{prefix}{index}"
            sql = compiler.compile_projection(item.expr).sql
            if namespace == KEY and plan.input_layout.has_tombstones and \
                    not referenced_columns(item.expr) <= key_names:
                # A new key computed from a null value is null (the value is not evaluated).
                sql = f"CASE WHEN {TOMBSTONE_COL} THEN NULL ELSE {sql} END"
            from_key = bool(referenced_columns(item.expr)) and referenced_columns(item.expr) <= key_names
            outputs.append(OutputColumn(sql_name, sql, format_expression(item.expr), from_key))
            fields.append(Field(item.name, item.type, sql_name, namespace))
    return outputs, BatchLayout(tuple(fields), has_tombstones=plan.input_layout.has_tombstones)


def build_select(plan, processing_log: ProcessingLog, query_id: Optional[str],
                 outputs: Optional[list[OutputColumn]] = None, layout: Optional[BatchLayout] = None,
                 value_encoding_sql: Optional[str] = None,
                 sink_reads: frozenset[str] = frozenset()) -> Select:
    """The Select operator of a projection plan."""
    if outputs is None:
        outputs, layout = _projection_outputs(plan)
    predicate_sql = predicate_text = None
    if plan.where is not None and getattr(plan, "flatten", None) is None:  # else the flatten filters
        compiler = ExpressionCompiler(plan.input_layout.scope())
        predicate_sql = compiler.compile_predicate(plan.where, clause="WHERE").sql
        predicate_text = format_expression(plan.where)
    return Select(outputs, predicate_sql, predicate_text, plan.input_layout, layout,
                  processing_log, query_id, input_is_table=plan.relation.result_kind == "TABLE",
                  value_encoding_sql=value_encoding_sql, sink_reads=sink_reads)


def build_aggregation(plan, sink_factory, processing_log: ProcessingLog, query_id: Optional[str]) -> PhysicalPlan:
    """An aggregation plan (`pyksqlite.planner.aggregation.AggregationPlan`): relation -> input
    Select (k*, g*, a*) -> Aggregate / SessionAggregate -> sink."""

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
    per_record = plan.emits_every_update()
    sink = sink_factory(out_layout)
    encoder = getattr(sink, "value_encoding_sql", None)
    value_names = [f.sql_name for f in out_layout.value_fields]
    encoding = encoder(value_names) if encoder else None
    sink_source = getattr(sink, "sink", None)
    sink_reads = {sink_source.timestamp_column} if sink_source is not None and sink_source.timestamp_column else set()
    dropped = tuple(f.sql_name for f in out_layout.value_fields if f.name not in sink_reads) if encoding else ()
    if plan.window_plan is not None and plan.window_plan.kind == "SESSION":
        operator = SessionAggregate(bound, arg_columns, len(plan.group_by), plan.window_plan, output,
                                    plan.emit == "FINAL", per_record)
    else:
        operator = Aggregate(bound, arg_columns, len(plan.group_by), counter, source_keys, plan.window_plan,
                             output, plan.emit == "FINAL", per_record, encoding, dropped)
    return PhysicalPlan(relation_ops, [select, operator], sink)
