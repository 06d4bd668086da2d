"""The sink of a transient push query whose result is a stream.

A stream's record with a null value is no row for a push query's client (ksqlDB deems it invalid
and skips it), while a stream projection passes null values on as tombstones for a persistent
sink to write. This sink drops them before they are counted against the query's LIMIT.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.operators.base import TOMBSTONE_COL
from pyksqlite.operators.sink import RowSink


class StreamRowSink(RowSink):
    def process(self, batch: pa.Table) -> pa.Table:
        if TOMBSTONE_COL in batch.column_names and batch.num_rows:
            batch = batch.filter(pc.invert(batch.column(TOMBSTONE_COL).fill_null(False)))
        return super().process(batch)
