"""Repartition topics: how a query whose state is keyed by something other than its input's key
is split between processes.

A process owns some partitions of the input; the rows of one group (or of one join key) may sit
in all of them. As ksqlDB does, such a query becomes two. The first re-keys the stream's rows
(`SELECT * ... PARTITION BY <expression>`) into an internal topic, so that all rows with the same
key land in one partition; the second is the original query over that topic, now
partition-aligned. Row times are kept, so windows are the same.

- An aggregation grouped by other columns is re-keyed by its GROUP BY expressions (its WHERE
  applied first) into `<query group>-Aggregate-GroupBy-repartition` (JSON key and value).
- A stream-table join on a stream column that is not its key is re-keyed by that column into
  `<query group>-Join-repartition`, with the table's partition count and key format, so that
  equal keys meet in the same partition number.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from pyksqlite.common.schema import KEY, VALUE
from pyksqlite.grammar import ast


CARRIER_COLUMN = "KSQL_REPARTITION_ROW"


@dataclass(frozen=True)
class Repartition:
    """How to split a query: the re-keying query, the original query over its output, and the
    internal topic's name suffix, partition count source and key format."""
    rekey: ast.Query
    rest: ast.Query
    topic_suffix: str
    key_format: str
    partitions_of: str      # the topic whose partition count the internal topic takes

    def with_carrier_column(self) -> "Repartition":
        """The split with one constant value column, for rows whose every column becomes key."""
        carrier = ast.SelectExpr(ast.BooleanLiteral(True), CARRIER_COLUMN)
        return dataclasses.replace(self, rekey=dataclasses.replace(self.rekey, select=self.rekey.select + (carrier,)))


def plan_repartition(plan, query: ast.Query, internal_name: str) -> Optional[Repartition]:
    """The split of a stateful query that is not partition-aligned, or None if it needs none or
    is not of a kind that can be split (it then runs as one task)."""
    from pyksqlite.runtime.partition_tasks import is_partition_aligned
    if is_partition_aligned(plan) or not _plain_stream(plan.relation.sources[0]):
        return None
    alias = query.from_.alias or query.from_.name
    rest = dataclasses.replace(query, from_=ast.SourceRef(internal_name, alias))
    relation = plan.relation
    if hasattr(plan, "group_by") and not hasattr(relation, "steps"):
        rekey = ast.Query(select=(ast.SelectAll(),), from_=query.from_, where=query.where,
                          partition_by=query.group_by, emit="CHANGES")
        return Repartition(rekey, rest, "Aggregate-GroupBy-repartition", "JSON", relation.source.topic)
    stream_side = _stream_join_expression(plan, query, alias)
    if stream_side is None:
        return None
    table = relation.leaves[1].source
    rekey = ast.Query(select=(ast.SelectAll(),), from_=query.from_, partition_by=(stream_side,),
                      emit="CHANGES")
    return Repartition(rekey, rest, "Join-repartition", table.key_format.name, table.topic)


def _plain_stream(source) -> bool:
    return not source.is_table and source.window is None and \
        all(c.namespace in (KEY, VALUE) for c in source.schema.columns)


def _stream_join_expression(plan, query: ast.Query, alias: str) -> Optional[ast.Expr]:
    """For a stream-table join (one JOIN, the table on its key), the ON side that reads only the
    stream's columns: the expression to re-key the stream by."""
    from pyksqlite.planner.joins import STREAM_TABLE
    steps = plan.relation.steps
    if len(steps) != 1 or steps[0].join_type != STREAM_TABLE or hasattr(plan, "group_by") \
            or not isinstance(query.joins[0].on, ast.Comparison) or query.joins[0].on.op != "=":
        return None
    on = query.joins[0].on
    names = {alias.upper(), query.from_.name.upper()}
    for side in (on.left, on.right):
        refs = [e for e in _column_refs(side)]
        if refs and all(r.source is not None and r.source.upper() in names for r in refs):
            return side
    return None


def _column_refs(expr: ast.Expr):
    if isinstance(expr, ast.ColumnRef):
        yield expr
        return
    for value in vars(expr).values():
        children = value if isinstance(value, tuple) else (value,)
        for child in children:
            if isinstance(child, ast.Expr):
                yield from _column_refs(child)


def repartition_task_id(query_id: str) -> str:
    """The scheduler's name for a query's re-keying half (SHOW QUERIES lists the query once)."""
    return f"{query_id}-repartition"
