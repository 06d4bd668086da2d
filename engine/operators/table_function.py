"""TableFunctionFlatten: the flatMap of ksqlDB's table functions, one DuckDB statement per batch.

Each table function call was compiled to a DuckDB LIST expression over the input columns; this
operator keeps the rows that pass the WHERE and `unnest`s every list in one SELECT. DuckDB zips
several unnests of one SELECT by position and pads the shorter lists with NULLs, which is
ksqlDB's rule for several table functions; a row whose lists are all empty or NULL emits
nothing. Every output row carries its input row's columns (key, timestamp, partition, offset,
headers), so the projection that follows sees the input row next to the synthetic columns.

A stream's null-value records emit nothing (there is no value to expand).
"""
from __future__ import annotations

from typing import Optional

import pyarrow as pa

from pyksqlite.operators.base import TOMBSTONE_COL, BatchLayout, StatelessOperator
from pyksqlite.operators.sql_batch import run_isolating_errors
from pyksqlite.common.processing_log import ProcessingLog


class TableFunctionFlatten(StatelessOperator):
    def __init__(self, calls: list[tuple[str, str, str]], predicate_sql: Optional[str],
                 predicate_text: Optional[str], input_layout: BatchLayout, output_layout: BatchLayout,
                 processing_log: ProcessingLog, query_id: Optional[str] = None):
        """`calls`: (internal output column, LIST SQL over the input, text for EXPLAIN)."""
        self.calls = calls
        self.predicate_text = predicate_text
        self.input_layout = input_layout
        self.layout = output_layout
        self.processing_log = processing_log
        self.query_id = query_id
        conditions = [f"NOT {TOMBSTONE_COL}"] if input_layout.has_tombstones else []
        if predicate_sql:
            conditions.append(f"({predicate_sql})")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        exclude = f" EXCLUDE ({TOMBSTONE_COL})" if input_layout.has_tombstones else ""
        unnests = ", ".join(f"unnest({sql}) AS {name}" for name, sql, _ in calls)
        self.sql = f"SELECT *{exclude}, {unnests} FROM batch{where}"

    def describe(self) -> str:
        where = f" WHERE {self.predicate_text}" if self.predicate_text else ""
        return "FLATTEN " + ", ".join(f"{text} AS {name}" for name, _, text in self.calls) + where

    def process(self, batch: pa.Table) -> pa.Table:
        return run_isolating_errors(self.sql, batch, self.processing_log, self.query_id)
