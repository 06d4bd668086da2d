"""The serde interface: whole batches of key or value bytes to Arrow columns and back.

One `Serde` per (format, columns, key-or-value). `deserialize` turns a binary array into one
Arrow column per logical column; a record that cannot be decoded gets nulls and an entry in
`errors` (the operator skips it and writes it to the processing log, as ksqlDB does), so one bad
record never fails a batch. `serialize` is the inverse. Both work on whole arrays (DuckDB,
pyarrow.compute, numpy): no Python call per record on the hot path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol

import pyarrow as pa

from pyksqlite.common.schema import Column


@dataclass(frozen=True)
class FormatInfo:
    """A key or value format and its options.

    `name`: JSON | DELIMITED | KAFKA | NONE (later AVRO, PROTOBUF, PROTOBUF_NOSR, JSON_SR).
    `wrap_single_value`: for a single column, whether it is wrapped in a record/object
    (`{"ID": 1}`) or anonymous (`1`). None means the format's default: values wrapped (unless
    `ksql.persistence.wrap.single.values` says otherwise), keys always unwrapped.
    `delimiter`: for DELIMITED, a single character (`SPACE`/`TAB` already translated).
    `properties`: other options (schema ids, full names ...), passed through.
    """
    name: str
    wrap_single_value: Optional[bool] = None
    delimiter: str = ","
    properties: tuple[tuple[str, str], ...] = field(default=())


@dataclass
class DecodeResult:
    columns: pa.Table              # one column per requested Column, in order, types per to_arrow
    errors: dict[int, str]         # row index -> why it could not be decoded


class Serde(Protocol):
    def deserialize(self, data: pa.Array) -> DecodeResult:
        """Decode a binary array. A null input gives a row of nulls and no error."""

    def serialize(self, columns: pa.Table) -> pa.Array:
        """Encode rows (one column per Column, in order) to a binary array."""


class SerdeFactory(Protocol):
    def __call__(self, fmt: FormatInfo, columns: list[Column], is_key: bool) -> Serde: ...
