"""Sinks: where a query's result batches go.

`TopicSink` encodes key and value columns with the sink's serdes and appends the records to the
sink topic (partitioned by the serialized key, as Kafka's default partitioner does). An append
that fails leaves nothing in the log; the sink keeps its records for `retry_unwritten`.
`drop_outputs` (set by a task replaying records whose outputs are in the log already, see
`pyksqlite.runtime.query_task`) makes it encode nothing and append nothing.
`RowSink` hands rows to a transient push query's client instead.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Optional

import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.catalog.metastore import DataSource
from pyksqlite.log.api import HEADER_TYPE, Log, LogAppendError
from pyksqlite.log.arrays import contiguous
from pyksqlite.log.partitioner import partitions_for_keys
from pyksqlite.operators.base import (ENCODED_VALUE_COL, HEADERS_COL, OFFSET_COL, ROWTIME_COL,
                                   TOMBSTONE_COL, WINDOW_BOUNDS, BatchLayout, StatelessOperator)
from pyksqlite.operators.source import key_serde_for
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.common.schema import KEY, VALUE
from pyksqlite.serde.factory import create_serde
from pyksqlite.expressions.typing_rules import duckdb_type
from pyksqlite.common.timestamps import to_epoch_millis
from pyksqlite.common.types import SqlType, to_arrow


class TopicSink(StatelessOperator):
    def __init__(self, sink: DataSource, layout: BatchLayout, log: Log,
                 processing_log: ProcessingLog, query_id: Optional[str] = None,
                 keeps_input_key: bool = False):
        self.sink = sink
        self.layout = layout
        self.log = log
        self.processing_log = processing_log
        self.query_id = query_id
        self._key_fields = [f for f in layout.fields if f.namespace == KEY]
        self._value_fields = [f for f in layout.fields if f.namespace == VALUE]
        # INSERT INTO may feed a sink column a narrower DECIMAL; values take the sink's type.
        self._sink_types = {(c.namespace, c.name): c.type for c in sink.schema.columns}
        self._key_serde = key_serde_for(sink)
        value_columns = [c for c in sink.schema.columns if c.namespace == VALUE]
        self._value_serde = create_serde(sink.value_format, value_columns, is_key=False)
        self.records_written = 0
        self.drop_outputs = False
        self.unwritten: Optional[tuple[pa.Table, Optional[pa.Array]]] = None
        # A key passed through unchanged stays null when it was null (ksqlDB's null GenericKey).
        self._keeps_input_key = keeps_input_key

    def describe(self) -> str:
        return (f"SINK {self.sink.kind.lower()} {self.sink.name} (topic {self.sink.topic}, "
                f"key {self.sink.key_format.name}, value {self.sink.value_format.name})")

    def value_encoding_sql(self, value_sql_names: list[str]) -> Optional[str]:
        """SQL that encodes the value columns inside the producing query, if the format has it."""
        encode = getattr(self._value_serde, "encode_expression", None)
        if not encode or not value_sql_names:
            return None
        return encode([self._sql_in_sink_type(f, sql) for f, sql in zip(self._value_fields, value_sql_names)])

    def _sink_type(self, field) -> Optional[SqlType]:
        sink_type = self._sink_types.get((field.namespace, field.name))
        return sink_type if sink_type is not None and sink_type != field.type else None

    def _sql_in_sink_type(self, field, sql: str) -> str:
        sink_type = self._sink_type(field)
        return sql if sink_type is None else f"CAST({sql} AS {duckdb_type(sink_type)})"

    def _columns(self, batch: pa.Table, fields) -> dict[str, Any]:
        """The fields' columns by name, each in the sink column's type."""
        columns = {}
        for f in fields:
            column, sink_type = batch.column(f.sql_name), self._sink_type(f)
            columns[f.name] = column if sink_type is None else column.cast(to_arrow(sink_type))
        return columns

    def process(self, batch: pa.Table) -> pa.Table:
        if batch.num_rows == 0 or self.drop_outputs:
            return batch
        timestamps = self._timestamps(batch)
        invalid = pc.fill_null(pc.less(timestamps, 0), True)
        if pc.any(invalid).as_py():
            # Kafka rejects records with a negative timestamp: skip them, as ksqlDB's producer does.
            for offset in batch.column(OFFSET_COL).filter(invalid).to_pylist():
                self.processing_log.record(self.query_id, "SERIALIZATION_ERROR",
                                           f"Invalid timestamp for the sink {self.sink.name}", offset=offset)
            keep = pc.invert(invalid)
            batch, timestamps = batch.filter(keep), timestamps.filter(keep)
            if batch.num_rows == 0:
                return batch
        keys = self._encode_keys(batch)
        if ENCODED_VALUE_COL in batch.column_names:
            values = contiguous(batch.column(ENCODED_VALUE_COL)).cast(pa.binary())
        else:
            values = self._value_serde.serialize(pa.table(self._columns(batch, self._value_fields)))
        if TOMBSTONE_COL in batch.column_names:
            values = _null_where(contiguous(batch.column(TOMBSTONE_COL)), values)
        records = pa.table({
            "key": keys,
            "value": values,
            "timestamp": timestamps,
            "headers": (batch.column(HEADERS_COL) if HEADERS_COL in batch.column_names
                        else pa.nulls(batch.num_rows, HEADER_TYPE)),
        })
        self._append(records, self._partitions(batch))
        return batch

    def _append(self, records: pa.Table, partitions: Optional[pa.Array]) -> None:
        try:
            self.log.append(self.sink.topic, records, partitions)
        except LogAppendError:
            self.unwritten = (records, partitions)  # none of it was written: see retry_unwritten
            raise
        self.records_written += records.num_rows

    def retry_unwritten(self) -> None:
        """Append the records whose append failed (the query task retries after a full disk)."""
        if self.unwritten is not None:
            records, partitions = self.unwritten
            self.unwritten = None
            self._append(records, partitions)

    def _partitions(self, batch: pa.Table) -> Optional[pa.Array]:
        """Windowed keys go to the partition of their inner key, as Kafka Streams' windowed
        partitioner places them (so all windows of a key share a partition); others: default."""
        if self.sink.window is None or not self._key_fields:
            return None
        inner = self._key_serde.inner.serialize(
            pa.table({f.name: batch.column(f.sql_name) for f in self._key_fields}))
        count = self.log.topic_config(self.sink.topic).partitions
        return pa.array(partitions_for_keys(inner, count), pa.int32())

    def _encode_keys(self, batch: pa.Table) -> pa.Array:
        if not self._key_fields:
            return pa.nulls(batch.num_rows, pa.binary())
        columns = self._columns(batch, self._key_fields)
        all_null = None
        if self._keeps_input_key and len(self._key_fields) > 1:
            all_null = _all_null(list(columns.values()))
        if self.sink.window is not None:
            for name, sql_name in WINDOW_BOUNDS:
                columns[name] = batch.column(sql_name)
        keys = self._key_serde.serialize(pa.table(columns))
        if all_null is not None:
            keys = pc.if_else(all_null, pa.nulls(len(keys), pa.binary()), keys)
        return keys

    def _timestamps(self, batch: pa.Table) -> pa.Array:
        column = self.sink.timestamp_column
        if column is not None:
            field = self.layout.find(column)
            if field is not None:
                millis = to_epoch_millis(batch.column(field.sql_name), field.type, self.sink.timestamp_format)
                return millis
        return contiguous(batch.column(ROWTIME_COL)).cast(pa.int64())


def _null_where(tombstones: pa.Array, values: pa.Array) -> pa.Array:
    """`values` with the tombstones' rows null (skipped when there are none: a stream's usual batch)."""
    if tombstones.null_count == 0 and not pc.any(tombstones).as_py():
        return values
    return pc.if_else(tombstones, pa.nulls(len(values), pa.binary()), values)


def _all_null(columns: list) -> pa.Array:
    result = pc.is_null(columns[0])
    for column in columns[1:]:
        result = pc.and_(result, pc.is_null(column))
    return result


class RowSink(StatelessOperator):
    """Collects result rows (as Python lists) for a transient query; bounded, so a client that
    stops reading is cut off (the query ends) instead of holding memory without limit."""

    def __init__(self, layout: BatchLayout, limit: Optional[int] = None, capacity: int = 100_000):
        self.layout = layout
        self.limit = limit
        self.capacity = capacity
        self.rows: deque[tuple[list[Any], bool]] = deque()
        self.emitted = 0
        self.overflowed = False
        self.condition = threading.Condition()

    def describe(self) -> str:
        return "SINK transient rows" + (f" LIMIT {self.limit}" if self.limit else "")

    @property
    def done(self) -> bool:
        return self.limit is not None and self.emitted >= self.limit

    def process(self, batch: pa.Table) -> pa.Table:
        if batch.num_rows == 0 or self.done:
            return batch
        if self.limit is not None:
            batch = batch.slice(0, self.limit - self.emitted)
        names = [f.sql_name for f in self.layout.fields]
        columns = [batch.column(n).to_pylist() for n in names]
        tombstones = (batch.column(TOMBSTONE_COL).to_pylist() if TOMBSTONE_COL in batch.column_names
                      else [False] * batch.num_rows)
        with self.condition:
            for i in range(batch.num_rows):
                if len(self.rows) >= self.capacity:
                    self.overflowed = True
                    break
                self.rows.append(([c[i] for c in columns], bool(tombstones[i])))
                self.emitted += 1
            self.condition.notify_all()
        return batch
