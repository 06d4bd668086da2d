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
from pyksqlite.operators.base import TOMBSTONE_COL, BatchLayout, Field, Operator
from pyksqlite.operators.fused import FusedJsonProjection
from pyksqlite.operators.select import OutputColumn, Select
from pyksqlite.operators.source import SourceDecode
from pyksqlite.operators.table_function import TableFunctionFlatten
from pyksqlite.planner.relation import RelationOperators
from pyksqlite.planner.rewrite import referenced_columns
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.common.schema import KEY, VALUE
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
    if fused is not None:  # a join that runs fused with its projection (engine.operators.join_fused)
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
