"""Running an operator's SQL over a batch so that one bad record never fails the batch.

If the statement fails on the batch (an evaluation error the compiled SQL could not turn into
NULL, or any other error a bad record raises: invalid UTF-8 in a result, an overflow), the batch
is bisected: the good halves still run vectorized, and only the single failing
records are dropped and written to the processing log.
"""
from __future__ import annotations

from typing import Optional

import pyarrow as pa

from pyksqlite.common.duck import run_sql
from pyksqlite.operators.base import OFFSET_COL
from pyksqlite.common.processing_log import ProcessingLog


def run_isolating_errors(sql: str, batch: pa.Table, processing_log: ProcessingLog,
                         query_id: Optional[str]) -> pa.Table:
    """`sql` (which reads the table `batch`) over `batch`, skipping and logging failing records."""
    try:
        return run_sql(sql, batch=batch)
    except Exception as error:  # noqa: BLE001 - a statement that fails on no record at all re-raises
        if batch.num_rows == 0:
            raise
        if batch.num_rows == 1:
            processing_log.record(query_id, "RECORD_PROCESSING_ERROR", f"Error processing record: {error}",
                                  offset=batch.column(OFFSET_COL)[0].as_py())
            return run_sql(sql, batch=batch.slice(0, 0))
    middle = batch.num_rows // 2
    return pa.concat_tables([run_isolating_errors(sql, half, processing_log, query_id)
                             for half in (batch.slice(0, middle), batch.slice(middle))])
