"""Pull queries: the current state of a table (or the contents of a stream), once.

A table's current state is the latest record per key on its topic, tombstones removed; the
query's WHERE and projection then run through the same Select operator as continuous queries.
Materialized state stores (aggregations) answer pull queries directly once they exist.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Optional

import pyarrow as pa

from pyksqlite.log.api import CONSUME_SCHEMA
from pyksqlite.operators.base import TOMBSTONE_COL
from pyksqlite.planner.logical import LogicalPlanner, check_pull_clauses, check_pull_query
from pyksqlite.planner.physical import build_flatten, build_select
from pyksqlite.catalog.ddl import Config
from pyksqlite.common.duck import run_sql
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.common.schema import WINDOWEND, WINDOWSTART
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression

if TYPE_CHECKING:
    from pyksqlite.facade.engine import Engine, PullResult


def run_pull_query(engine: "Engine", statement: ast.QueryStatement,
                   properties: Optional[dict] = None) -> "PullResult":
    from pyksqlite.facade.engine import PullResult, QueryColumn
    props = Config({**engine.properties, **(properties or {})})
    check_pull_clauses(statement.query)
    try:
        plan = LogicalPlanner(engine.catalog, persistent=False).plan(statement.query)
    except KsqlStatementException as error:
        raise _with_failed_comparison(error, statement.query.where) from None
    check_pull_query(engine.catalog, statement.query,
                     table_scan=props.get_bool("ksql.query.pull.table.scan.enabled", True),
                     range_scan=props.get_bool("ksql.query.pull.range.scan.enabled", True))
    query_id = f"query_{int(time.time() * 1000)}"
    if len(plan.topics) != 1 or not hasattr(plan, "relation"):
        raise KsqlStatementException("Pull queries don't support JOIN, WINDOW or GROUP BY clauses.")
    records = _read_all(engine, plan.source.topic)
    if plan.source.is_table:
        records = _latest_per_key(records, _windowed_scan_partitions(engine, plan.source, records))
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
    if plan.source.window is not None:       # a windowed table's bounds are key columns too
        key_names |= {WINDOWSTART, WINDOWEND}
    fields = select.layout.fields
    columns = [QueryColumn(f.name, str(f.type), _is_key_ref(plan, f.name, key_names)) for f in fields]
    data = [result.column(f.sql_name).to_pylist() for f in fields]
    rows = [list(row) for row in zip(*data)] if data else []
    rows = _in_lookup_order(statement.query.where, [c.name if c.is_key else None for c in columns], rows)
    return PullResult(query_id, columns, rows, on_stream=not plan.source.is_table,
                      limit_reached=plan.limit is not None and len(rows) >= plan.limit)


def _with_failed_comparison(error: KsqlStatementException, where) -> KsqlStatementException:
    """ksqlDB names the comparison of a pull query's WHERE that fails to type-check:
    `Error in WHERE expression: Cannot compare ...\nStatement: (ID = 11)`."""
    if where is None or not error.message.startswith("Error in WHERE expression: Cannot compare"):
        return error
    pending = [where]
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.Comparison) and \
                f"Cannot compare {format_expression(node.left)} (" in error.message and \
                f" to {format_expression(node.right)} (" in error.message:
            return type(error)(f"{error.message}\nStatement: {format_expression(node)}", error.statement_text)
        pending += [child for name in getattr(node, "__dataclass_fields__", {})
                    for child in [getattr(node, name)] if isinstance(child, ast.Expr)]
    return error


def _in_lookup_order(where, names: list[str], rows: list[list]) -> list[list]:
    """`WHERE key IN (a, b)` is a lookup per key, in the list's order (as ksqlDB answers it);
    `names` holds the result's key column names (None for the other columns)."""
    if not isinstance(where, ast.InList) or where.negated or not isinstance(where.value, ast.ColumnRef) \
            or where.value.name not in names:
        return rows
    wanted = [getattr(item, "value", getattr(item, "text", None)) for item in where.items]
    position = names.index(where.value.name)

    def rank(row: list) -> int:
        for index, value in enumerate(wanted):
            try:
                if value == row[position] or float(value) == float(row[position]):
                    return index
            except (TypeError, ValueError):
                continue
        return len(wanted)
    return sorted(rows, key=rank)


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


def _windowed_scan_partitions(engine: "Engine", source, records: pa.Table) -> Optional[pa.Array]:
    """For a windowed table, the partition each record's key belongs to as Kafka Streams places
    windowed keys (murmur2 of the inner key, without the window), which orders its scan."""
    if source.window is None or records.num_rows == 0:
        return None
    from pyksqlite.log.partitioner import partitions_for_keys
    suffix = 16 if source.window.is_session else 8
    keys = records.column("key").combine_chunks()
    inner = pa.compute.binary_slice(keys, 0, -suffix)
    return pa.array(partitions_for_keys(inner, len(engine.log.end_offsets(source.topic)), 0), pa.int32())


def _latest_per_key(records: pa.Table, scan_partitions: Optional[pa.Array] = None) -> pa.Table:
    """The latest record per key, in the order ksqlDB's table scan returns rows: partition by
    partition, and within one in the byte order of the serialized key (RocksDB's order)."""
    if scan_partitions is not None:     # windowed: the window store's partitions
        records = records.set_column(records.schema.get_field_index("partition"), "partition", scan_partitions)
    latest = run_sql("SELECT * FROM records QUALIFY row_number() OVER "
                     "(PARTITION BY key ORDER BY partition, \"offset\" DESC) = 1 "
                     "ORDER BY partition, key", records=records)
    return latest.filter(latest.column("value").is_valid()).cast(CONSUME_SCHEMA)
