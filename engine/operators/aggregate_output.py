"""The output stage of an aggregation: aggregate results, then the SELECT list and HAVING.

Input rows (one per update of a group, in `__seq` order) carry the group key `g0..`, the window
bounds, the merged partials `c0..` of the vectorized aggregates and the results `r<i>` of the
accumulator aggregates. One DuckDB statement computes the vectorized results, the projection
(`k0..` key, `v0..` value columns) and HAVING; a group whose previous row passed HAVING and whose
new row does not is emitted as a tombstone (ksqlDB's table filter), rows that neither pass nor
follow a passing row are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import duckdb
import numpy as np
import pyarrow as pa

from pyksqlite.expressions.aggregates import BoundAggregate
from pyksqlite.operators.base import ROWTIME_COL, TOMBSTONE_COL, WINDOWEND_COL, WINDOWSTART_COL, BatchLayout
from pyksqlite.operators.select import OutputColumn
from pyksqlite.common.types import to_arrow

SEQ, EMIT, LAST, STATE_PASSED, PASSED = "__seq", "__emit", "__last", "__spassed", "__pass"


@dataclass
class AggregateOutput:
    aggregates: list[BoundAggregate]
    partial_columns: list[list[str]]     # per aggregate, its merged partial columns (vectorized only)
    group_count: int
    windowed: bool
    outputs: list[OutputColumn]          # k0.., v0.. over g*, r*, __wstart/__wend
    having_sql: Optional[str]
    layout: BatchLayout                  # the sink-facing layout (k*, v*)

    @property
    def group_columns(self) -> list[str]:
        cols = [f"g{i}" for i in range(self.group_count)]
        return cols + [WINDOWSTART_COL, WINDOWEND_COL] if self.windowed else cols

    def evaluate(self, con: duckdb.DuckDBPyConnection, rows: pa.Table) -> pa.Table:
        """Rows with outputs k*/v*, __rowtime, __pass (HAVING), plus the input's bookkeeping columns."""
        con.register("agg_rows", rows)
        try:
            return con.sql(self.evaluate_sql("agg_rows")).to_arrow_table()
        finally:
            con.unregister("agg_rows")

    def evaluate_sql(self, rows_sql: str) -> str:
        """`evaluate` as SQL over `rows_sql` (a table name or a parenthesized query)."""
        results = []
        for index, (aggregate, columns) in enumerate(zip(self.aggregates, self.partial_columns)):
            if aggregate.vectorized:
                results.append(f"{aggregate.final(columns)} AS r{index}")
        select = ", ".join(f"{o.sql} AS {o.sql_name}" for o in self.outputs)
        having = f"coalesce(({self.having_sql}), FALSE)" if self.having_sql else "TRUE"
        inner = ", ".join(["*"] + results) if results else "*"
        return (f"SELECT {select}, {having} AS {PASSED}, * "
                f"FROM (SELECT {inner} FROM {rows_sql} AS agg_input) AS agg_rows")

    def emitted(self, con: duckdb.DuckDBPyConnection, evaluated: pa.Table, changes_only: bool) -> pa.Table:
        """The rows to emit: passing rows, and tombstones for groups that stop passing."""
        order = f"{SEQ}, {WINDOWSTART_COL}" if self.windowed else SEQ
        if self.having_sql is None and not changes_only:
            # Coalesced (one row per group, every one emitted): no order to keep within the batch.
            tombstones = pa.array(np.zeros(evaluated.num_rows, dtype=bool))
            return conform(evaluated.append_column(TOMBSTONE_COL, tombstones), self.layout)
        con.register("evaluated", evaluated)
        try:
            if self.having_sql is None:
                sql = f"SELECT *, FALSE AS {TOMBSTONE_COL} FROM evaluated WHERE {EMIT} ORDER BY {order}"
            else:
                partition = ", ".join(self.group_columns)
                previous = (f"coalesce(CASE WHEN row_number() OVER w = 1 THEN {STATE_PASSED} "
                            f"ELSE lag({PASSED}) OVER w END, FALSE)")
                sql = (f"SELECT * EXCLUDE (__prev), NOT {PASSED} AS {TOMBSTONE_COL} FROM "
                       f"(SELECT *, {previous} AS __prev FROM evaluated WHERE {EMIT} "
                       f"WINDOW w AS (PARTITION BY {partition} ORDER BY {SEQ})) "
                       f"WHERE {PASSED} OR __prev ORDER BY {order}")
            return conform(con.sql(sql).to_arrow_table(), self.layout)
        finally:
            con.unregister("evaluated")


def conform(table: pa.Table, layout: BatchLayout) -> pa.Table:
    """Cast the user columns to the Arrow types the layout promises (e.g. TIME in ms)."""
    for field in layout.fields:
        if field.sql_name in table.column_names:
            target = to_arrow(field.type)
            index = table.column_names.index(field.sql_name)
            column = table.column(index)
            if column.type != target:
                try:
                    table = table.set_column(index, field.sql_name, column.cast(target))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    pass
    if ROWTIME_COL in table.column_names:
        index = table.column_names.index(ROWTIME_COL)
        table = table.set_column(index, ROWTIME_COL, table.column(index).cast(pa.int64()))
    return table


def python_results_table(values: list[list], aggregates: list[BoundAggregate], indices: list[int]) -> dict:
    """Arrow columns r<i> for accumulator results (Python values per emitted row)."""
    columns = {}
    for index, column in zip(indices, values):
        arrow_type = to_arrow(aggregates[index].result_type)
        columns[f"r{index}"] = pa.array(column, type=arrow_type)
    return columns
