"""FusedJsonProjection: decode + WHERE + projection + encode of a JSON stream in one DuckDB statement.

Operator fusion, as query engines do it: for a projection over a JSON source whose columns suit
the fast decode path (`pyksqlite.serde.json_fast`), parsing the value, filtering, projecting and
encoding the sink's value happen in a single statement per batch, with no Arrow copy of the
decoded columns in between. The fast path flags rows it cannot vouch for; if a batch has any, or
if the statement fails in any way (invalid UTF-8, a number out of range, a DuckDB error...), the
batch goes through the two operators it fuses (`SourceDecode`, then `Select`), which apply
ksqlDB's exact rules and send a bad record to the processing log while the others go on. Both
paths give the same rows.
"""
from __future__ import annotations

from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.expressions.typing_rules import duckdb_type
from pyksqlite.log.arrays import contiguous
from pyksqlite.operators.base import (HEADERS_COL, OFFSET_COL, PARTITION_COL, ROWTIME_COL, SUSPECT_COL,
                                   TOMBSTONE_COL, BatchLayout, Operator)
from pyksqlite.operators.planned import PlannedStatement
from pyksqlite.operators.select import Select
from pyksqlite.operators.source import SourceDecode
from pyksqlite.common.schema import KEY, VALUE
from pyksqlite.serde import json_fast


class FusedJsonProjection:
    """The relation side of a physical plan whose Select is fused into the decoding."""

    def __init__(self, decode: SourceDecode, select: Select):
        self.decode = decode
        self.select = select
        self.layout: BatchLayout = select.layout
        self._statement = PlannedStatement("records")

    @staticmethod
    def applies_to(decode: SourceDecode) -> bool:
        source = decode.source
        timestamp = source.schema.find(source.timestamp_column) if source.timestamp_column else None
        decoded = {c.name for c in decode.decoded_value_columns}
        return (source.value_format.name == "JSON" and source.window is None
                and (timestamp is None or (timestamp.type.base == "BIGINT" and timestamp.name in decoded))
                and decode.value_serde_is_wrapped
                and not any(f.namespace not in (KEY, VALUE) for f in decode.layout.fields)
                and json_fast.supports(decode.decoded_value_columns, True))

    def operators(self) -> list[Operator]:
        return [self.decode, self.select]

    def process(self, records: pa.Table | pa.RecordBatch) -> pa.Table:
        if isinstance(records, pa.RecordBatch):
            records = pa.Table.from_batches([records])
        try:
            fused = self._process_fused(records)
        except Exception:  # noqa: BLE001 - whatever a bad record raises, the exact path isolates it
            fused = None
        if fused is not None:
            return fused
        return self.select.process(self.decode.process(records))

    def _process_fused(self, records: pa.Table) -> Optional[pa.Table]:
        records = self.decode.drop_unusable(records)
        # No UTF-8 check here: DuckDB rejects invalid text, and the exact path then reports it.
        # The values stay as they came (chunked or not): DuckDB scans them without a copy.
        text = pc.cast(records.column("value"),
                       options=pc.CastOptions(target_type=pa.string(), allow_invalid_utf8=True))
        columns = self.decode.decoded_value_columns
        spellings = json_fast.spellings_of(text, columns)
        if spellings is None:
            return None
        keys = self.decode.key_serde.deserialize(contiguous(records.column("key")))
        if keys.errors:
            return None
        inputs = self._inputs(records, text, keys.columns)
        decoding = self._decoding_sql(spellings, HEADERS_COL in inputs.column_names)
        statement = f"WITH batch AS ({decoding}) {self.select.sql_keeping_suspects}"
        result = self._statement.run(statement, inputs)
        if pc.any(result.column(SUSPECT_COL)).as_py():
            return None
        return result.drop_columns([SUSPECT_COL])

    def _inputs(self, records: pa.Table, text: pa.Array, keys: pa.Table) -> pa.Table:
        columns = {f.sql_name: keys.column(i) for i, f in enumerate(self.decode.layout.key_fields)}
        columns.update({"doc": text, ROWTIME_COL: records.column("timestamp"),
                        PARTITION_COL: records.column("partition"), OFFSET_COL: records.column("offset")})
        headers = records.column("headers")
        if headers.null_count < len(headers):  # most streams carry no headers: don't ship nulls
            columns[HEADERS_COL] = headers
        return pa.table(columns)

    def _decoding_sql(self, spellings: list[str], has_headers: bool) -> str:
        decoded = json_fast.decode_sql(self.decode.decoded_value_columns, spellings, "doc")
        by_name = dict(zip((c.name for c in self.decode.decoded_value_columns), decoded.values))
        fields, rowtime, suspect = decoded_select_list(
            [f.sql_name for f in self.decode.layout.key_fields], self.decode.layout.value_fields, by_name,
            self.decode.source.timestamp_column, decoded.suspect)
        headers = HEADERS_COL if has_headers else f"NULL::STRUCT(key VARCHAR, value BLOB)[] AS {HEADERS_COL}"
        fields += [f"{rowtime} AS {ROWTIME_COL}", PARTITION_COL, OFFSET_COL, headers,
                   f"{suspect} AS {SUSPECT_COL}"]
        if self.decode.emits_tombstones:
            fields.append(f"doc IS NULL AS {TOMBSTONE_COL}")
        return f"SELECT {', '.join(fields)} FROM (SELECT *, {decoded.transform} AS j FROM records)"


def decoded_select_list(key_names: list[str], value_fields, by_name: dict[str, str],
                        timestamp_column, suspect: str) -> tuple[list[str], str, str]:
    """The select list of a fast-decoded batch: keys, then each value field's decoding SQL (NULL
    when not decoded) under its internal name; with the row-time and the doubt expressions."""
    fields = list(key_names)
    for field in value_fields:
        value = by_name.get(field.name, f"NULL::{duckdb_type(field.type)}")
        fields.append(f"{value} AS {field.sql_name}")
    rowtime = ROWTIME_COL
    if timestamp_column:
        # Event time from a BIGINT column; an invalid one is left to the exact path to log.
        rowtime = by_name[timestamp_column]
        suspect = f"({suspect} OR {rowtime} < 0)"
    return fields, rowtime, suspect
