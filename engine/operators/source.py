"""SourceDecode: raw log records (key/value bytes) to typed columns of a stream or table.

Decodes whole batches with the source's key and value serdes, extracts header columns and the
event time (ROWTIME, or the TIMESTAMP column), and drops what ksqlDB drops: stream records with
a null value, table records with a null key, records that cannot be decoded (those go to the
processing log). Table records with a null value are kept as tombstones.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.catalog.metastore import DataSource
from pyksqlite.operators.base import (HEADERS_COL, OFFSET_COL, PARTITION_COL, ROWTIME_COL, TOMBSTONE_COL,
                                   WINDOW_BOUNDS, BatchLayout, Field, StatelessOperator, layout_for_columns)
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.common.schema import HEADER, HEADERS, KEY, VALUE
from pyksqlite.serde.factory import create_serde
from pyksqlite.common.timestamps import to_epoch_millis
from pyksqlite.common.types import BIGINT, to_arrow


class SourceDecode(StatelessOperator):
    def __init__(self, source: DataSource, alias: str, processing_log: ProcessingLog,
                 query_id: Optional[str] = None, keep_null_values: bool = False,
                 needed_columns: Optional[frozenset[str]] = None):
        self.source = source
        self.query_id = query_id
        self.processing_log = processing_log
        columns = list(source.schema.columns)
        self.layout: BatchLayout = source_layout(source, alias)
        self._key_columns = [c for c in columns if c.namespace == KEY]
        self._value_columns = [c for c in columns if c.namespace == VALUE]
        self.key_serde = key_serde_for(source)
        create_serde(source.value_format, self._value_columns, is_key=False)  # checks the format
        self.decoded_value_columns = self._value_columns
        if needed_columns is not None and source.value_format.name == "JSON" and len(self._value_columns) > 1:
            # JSON members are found by name: decoding only what the query reads is the same.
            self.decoded_value_columns = [c for c in self._value_columns if c.name in needed_columns]
        self._value_serde = create_serde(source.value_format, self.decoded_value_columns, is_key=False) \
            if self.decoded_value_columns else None
        # Tables carry tombstones; a stream projection passes null values on (as ksqlDB's
        # mapValues does), while joins and aggregations ignore them.
        self._keep_null_values = keep_null_values
        self.emits_tombstones = source.is_table or self._keep_null_values
        self.layout = BatchLayout(self.layout.fields, has_tombstones=self.emits_tombstones)

    @property
    def value_serde_is_wrapped(self) -> bool:
        from pyksqlite.serde.factory import is_wrapped
        return is_wrapped(self.source.value_format, self._value_columns, False)

    def describe(self) -> str:
        return (f"SOURCE {self.source.kind.lower()} {self.source.name} (topic {self.source.topic}, "
                f"key {self.source.key_format.name}, value {self.source.value_format.name})")

    def process(self, records: pa.Table | pa.RecordBatch) -> pa.Table:
        if isinstance(records, pa.RecordBatch):
            records = pa.Table.from_batches([records])
        records = self.drop_unusable(records)
        keys = self.key_serde.deserialize(records.column("key").combine_chunks())
        values = self._decode_values(records)
        bad = self._log_errors(records, keys.errors, "key") | self._log_errors(records, values.errors, "value")
        columns = self._assemble(records, keys.columns, values)
        timestamps, bad_ts = self._event_times(records, columns)
        bad |= bad_ts
        columns[ROWTIME_COL] = timestamps
        columns[PARTITION_COL] = records.column("partition")
        columns[OFFSET_COL] = records.column("offset")
        columns[HEADERS_COL] = records.column("headers")
        if self.emits_tombstones:
            columns[TOMBSTONE_COL] = records.column("value").is_null()
        table = pa.table(columns)
        if bad:
            keep = np.ones(table.num_rows, dtype=bool)
            keep[list(bad)] = False
            table = table.filter(pa.array(keep))
        return table

    # --- steps ---
    def _decode_values(self, records: pa.Table):
        from pyksqlite.serde.api import DecodeResult
        if self._value_serde is None:
            return DecodeResult(pa.table({}), {})
        return self._value_serde.deserialize(records.column("value").combine_chunks())

    def drop_unusable(self, records: pa.Table) -> pa.Table:
        if self.source.is_table:
            if self._key_columns:
                return _drop_nulls_in(records, "key")
            return records
        if self._keep_null_values:
            return records
        return _drop_nulls_in(records, "value")

    def _assemble(self, records: pa.Table, keys: pa.Table, values) -> dict[str, pa.ChunkedArray]:
        values = values.columns
        columns: dict[str, pa.ChunkedArray | pa.Array] = {}
        key_index = 0
        for field in self.layout.fields:
            if field.namespace == KEY:
                if field.name in keys.column_names:
                    columns[field.sql_name] = keys.column(field.name)
                else:
                    columns[field.sql_name] = keys.column(key_index)
                key_index += 1
            elif field.namespace == VALUE:
                if field.name in values.column_names:
                    columns[field.sql_name] = values.column(field.name)
                else:
                    columns[field.sql_name] = pa.nulls(records.num_rows, to_arrow(field.type))
            elif field.namespace == HEADERS:
                columns[field.sql_name] = _all_headers(records.column("headers"), field.type)
            elif field.namespace == HEADER:
                column = self.source.schema.find(field.name)
                columns[field.sql_name] = _last_header(records.column("headers"), column.header_key)
        return columns

    def _event_times(self, records: pa.Table, columns: dict) -> tuple[pa.Array, set[int]]:
        column_name = self.source.timestamp_column
        if column_name is None:
            return records.column("timestamp"), set()
        field = self.layout.find(column_name)
        millis = to_epoch_millis(columns[field.sql_name], field.type, self.source.timestamp_format)
        invalid = pc.or_(pc.is_null(millis), pc.less(millis, 0)).to_numpy(zero_copy_only=False)
        bad = set(np.flatnonzero(invalid).tolist())
        for row in bad:
            self.processing_log.record(self.query_id, "TIMESTAMP_EXTRACTION",
                                       f"Invalid timestamp in column {column_name}", row=row)
        return millis, bad

    def _log_errors(self, records: pa.Table, errors: dict[int, str], part: str) -> set[int]:
        if not errors:
            return set()
        partitions, offsets = records.column("partition"), records.column("offset")
        for row, message in errors.items():
            self.processing_log.record(
                self.query_id, "DESERIALIZATION_ERROR",
                f"Failed to deserialize {part} from topic: {self.source.topic}. {message}",
                topic=self.source.topic, partition=partitions[row].as_py(), offset=offsets[row].as_py())
        return set(errors)


def _drop_nulls_in(records: pa.Table, column: str) -> pa.Table:
    """The records whose `column` is not null (no copy when none is null, the usual case)."""
    if records.column(column).null_count == 0:
        return records
    return records.filter(records.column(column).is_valid())


def source_layout(source: DataSource, alias: Optional[str] = None) -> BatchLayout:
    """A source's columns: keys k0.., then for a windowed source WINDOWSTART and WINDOWEND (BIGINT
    key columns that the windowed key carries, internal names __wstart/__wend), then values v0.."""
    layout = layout_for_columns(list(source.schema.columns), alias)
    if source.window is None:
        return layout
    keys = [f for f in layout.fields if f.namespace == KEY]
    bounds = [Field(name, BIGINT, sql_name, KEY, alias) for name, sql_name in WINDOW_BOUNDS]
    return BatchLayout(tuple(keys + bounds + [f for f in layout.fields if f.namespace != KEY]))


def key_serde_for(source: DataSource):
    """The key serde of a source, wrapped for windowed keys."""
    key_columns = [c for c in source.schema.columns if c.namespace == KEY]
    serde = create_serde(source.key_format, key_columns, is_key=True)
    if source.window is None:
        return serde
    from pyksqlite.serde.windowed import SessionWindowedSerde, TimeWindowedSerde
    if source.window.is_session:
        return SessionWindowedSerde(serde)
    return TimeWindowedSerde(serde, source.window.size_ms or 0)


def _all_headers(headers: pa.ChunkedArray, typ) -> pa.Array:
    """The HEADERS column: every header as STRUCT<KEY, VALUE>; an empty array when none."""
    headers = headers.combine_chunks()
    filled = pc.if_else(headers.is_null(), pa.scalar([], headers.type), headers)
    entries = filled.values
    names = [name for name, _ in typ.element.fields]
    renamed = pa.StructArray.from_arrays([entries.field("key"), entries.field("value")], names=names)
    return pa.ListArray.from_arrays(filled.offsets, renamed)


def _last_header(headers: pa.ChunkedArray, header_key: str) -> pa.Array:
    """A HEADER('k') column: the value of the last header with key k, else null."""
    headers = headers.combine_chunks()
    n = len(headers)
    result = np.full(n, -1, dtype=np.int64)
    if n and headers.null_count < n:
        flat = pc.list_flatten(headers)
        parents = pc.list_parent_indices(headers).to_numpy()
        matches = pc.equal(flat.field("key"), header_key).to_numpy(zero_copy_only=False)
        positions = np.flatnonzero(matches)
        result[parents[positions]] = positions  # later positions overwrite earlier: the last wins
        if len(positions):
            found = result >= 0
            taken = flat.field("value").take(pa.array(np.where(found, result, positions[0])))
            return pc.if_else(pa.array(found), taken, pa.nulls(n, pa.binary()))
    return pa.nulls(n, pa.binary())
