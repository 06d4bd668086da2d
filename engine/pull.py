"""Pull queries: the current state of a table (or the contents of a stream), once.

A table's current state is the latest record per key on its topic, tombstones removed; the
query's WHERE and projection then run through the same Select operator as continuous queries.
Materialized state stores (aggregations) answer pull queries directly once they exist.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pyarrow as pa

from engine.log.api import CONSUME_SCHEMA
from engine.operators.base import TOMBSTONE_COL
from engine.planner.logical import LogicalPlanner
from engine.planner.physical import build_flatten, build_select
from engine.duck import run_sql
from engine.errors import KsqlStatementException
from engine.schema import KEY
from grammar import ast

if TYPE_CHECKING:
    from engine.engine import Engine, PullResult


def run_pull_query(engine: "Engine", statement: ast.QueryStatement) -> "PullResult":
    from engine.engine import PullResult, QueryColumn
    plan = LogicalPlanner(engine.catalog, persistent=False).plan(statement.query)
    query_id = f"query_{int(time.time() * 1000)}"
    if len(plan.topics) != 1 or not hasattr(plan, "relation"):
        raise KsqlStatementException("Pull queries don't support JOIN, WINDOW or GROUP BY clauses.")
    records = _read_all(engine, plan.source.topic)
    if plan.source.is_table:
        records = _latest_per_key(records)
    batch = plan.relation.build(engine._processing_log, query_id).process(records)
    if getattr(plan, "flatten", None) is not None:  # table functions: expand the rows first
        batch = build_flatten(plan, engine._processing_log, query_id).process(batch)
    select = build_select(plan, engine._processing_log, query_id)
    result = select.process(batch)
    if TOMBSTONE_COL in result.column_names:
        result = result.filter(pa.compute.invert(result.column(TOMBSTONE_COL)))
    if plan.limit is not None:
        result = result.slice(0, plan.limit)
    key_names = {c.name for c in plan.source.schema.key_columns}
    fields = select.layout.fields
    columns = [QueryColumn(f.name, str(f.type), _is_key_ref(plan, f.name, key_names)) for f in fields]
    data = [result.column(f.sql_name).to_pylist() for f in fields]
    rows = [list(row) for row in zip(*data)] if data else []
    return PullResult(query_id, columns, rows, on_stream=not plan.source.is_table,
                      limit_reached=plan.limit is not None and len(rows) >= plan.limit)


def _is_key_ref(plan, name: str, key_names: set[str]) -> bool:
    for item in plan.values:
        if item.name == name:
            return isinstance(item.expr, ast.ColumnRef) and item.expr.name in key_names
    return False


def _read_all(engine: "Engine", topic: str) -> pa.Table:
    batches = []
    for partition, end in enumerate(engine.log.end_offsets(topic)):
        offset = engine.log.start_offsets(topic)[partition]
        while offset < end:
            batch = engine.log.read(topic, partition, offset)
            if batch.num_rows == 0:
                break
            batches.append(batch)
            offset = batch.column("offset")[-1].as_py() + 1
    if not batches:
        return CONSUME_SCHEMA.empty_table()
    return pa.Table.from_batches(batches).cast(CONSUME_SCHEMA)


def _latest_per_key(records: pa.Table) -> pa.Table:
    """The latest record per key, in the order ksqlDB's table scan returns rows: partition by
    partition, and within one in the byte order of the serialized key (RocksDB's order)."""
    latest = run_sql("SELECT * FROM records QUALIFY row_number() OVER "
                     "(PARTITION BY key ORDER BY partition, \"offset\" DESC) = 1 "
                     "ORDER BY partition, key", records=records)
    return latest.filter(latest.column("value").is_valid()).cast(CONSUME_SCHEMA)
