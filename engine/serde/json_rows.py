"""JSON encoding of a few rows of Python values, for INSERT VALUES.

A DuckDB statement costs about a millisecond however few rows it encodes, which is most of the
cost of an INSERT. The values of an INSERT are Python values already, so rows of simple columns
(STRING, INTEGER, BIGINT, BOOLEAN, DOUBLE) are encoded with orjson instead, byte for byte as
`JsonSerde.serialize` writes them. A value whose text DuckDB writes differently (a double
orjson would print with an exponent, NaN, infinity) or of an unexpected Python type makes
`encode_rows` answer None, and the caller encodes with the serde.
"""
from __future__ import annotations

from typing import Any, Optional

import orjson
import pyarrow as pa

from pyksqlite.serde.json_format import JsonSerde

_INT_RANGE = {"INTEGER": (-2 ** 31, 2 ** 31 - 1), "BIGINT": (-2 ** 63, 2 ** 63 - 1)}
_SIMPLE = {"STRING", "INTEGER", "BIGINT", "BOOLEAN", "DOUBLE"}


def encodable(serde) -> bool:
    return isinstance(serde, JsonSerde) and all(c.type.base in _SIMPLE for c in serde.columns)


def encode_rows(serde: JsonSerde, rows: list[dict[str, Any]]) -> Optional[pa.Array]:
    """The serde's encoding of `rows` (column name -> value), or None if DuckDB must do it."""
    columns = serde.columns
    if not all(_plain(row.get(c.name), c.type.base) for row in rows for c in columns):
        return None
    try:
        if serde.wrapped:
            docs = [orjson.dumps({c.name: row.get(c.name) for c in columns}) for row in rows]
        else:
            name = columns[0].name
            docs = [None if row.get(name) is None else orjson.dumps(row[name]) for row in rows]
    except (TypeError, orjson.JSONEncodeError):
        return None
    return pa.array(docs, pa.binary())


def _plain(value: Any, base: str) -> bool:
    """True if orjson writes `value`, as a column of type `base`, the way DuckDB's to_json does."""
    if value is None:
        return True
    if base == "STRING":
        return type(value) is str
    if base == "BOOLEAN":
        return type(value) is bool
    if base == "DOUBLE":
        return type(value) is float and b"e" not in orjson.dumps(value) and value == value \
            and value not in (float("inf"), float("-inf"))
    low, high = _INT_RANGE[base]
    return type(value) is int and low <= value <= high
