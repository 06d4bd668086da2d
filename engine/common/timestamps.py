"""Event time: a column as epoch milliseconds.

ksqlDB's `TIMESTAMP` property names a BIGINT (epoch ms), TIMESTAMP, or a STRING column parsed
with `TIMESTAMP_FORMAT`, a java.time pattern, read by the same vectorized parser as
PARSE_TIMESTAMP (`pyksqlite.common.java_time.parse`), whole arrays at a time.
"""
from __future__ import annotations

from typing import Optional

import pyarrow as pa

from pyksqlite.common.java_time.parse import parse_with_pattern
from pyksqlite.common.types import SqlType

DEFAULT_TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSS"


def to_epoch_millis(values: pa.Array | pa.ChunkedArray, typ: SqlType, fmt: Optional[str]) -> pa.Array:
    """Epoch milliseconds (int64) of a BIGINT, TIMESTAMP or formatted STRING column; nulls where
    a value is null or cannot be parsed."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if typ.base == "BIGINT" or typ.base == "INTEGER":
        return values.cast(pa.int64())
    if typ.base == "TIMESTAMP":
        return values.cast(pa.timestamp("ms")).cast(pa.int64())
    if typ.base == "STRING":
        return parse_with_pattern(values, fmt or DEFAULT_TIMESTAMP_FORMAT)
    raise ValueError(f"timestamp column must be BIGINT, TIMESTAMP or STRING, not {typ}")
