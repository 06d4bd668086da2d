"""ksqlDB's SQL types in the engine: Arrow mapping, display and parsing of type names.

The type values themselves are `pyksqlite.grammar.ast.SqlType` (one type model for parser and engine);
this module adds what only execution needs.
"""
from __future__ import annotations

import pyarrow as pa

from pyksqlite.grammar.ast import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME, TIMESTAMP,
                         SqlType, array, decimal, map_of, struct)

__all__ = ["SqlType", "BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES", "DATE", "TIME",
           "TIMESTAMP", "decimal", "array", "map_of", "struct", "to_arrow", "from_arrow",
           "is_numeric", "is_integral", "NUMERIC_RANK"]

_PRIMITIVE_TO_ARROW = {
    "BOOLEAN": pa.bool_(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "STRING": pa.string(),
    "BYTES": pa.binary(),
    "DATE": pa.date32(),
    "TIME": pa.time32("ms"),
    "TIMESTAMP": pa.timestamp("ms"),
}

# Widening order of the numeric types, as ksqlDB's implicit casts go (INT -> BIGINT -> DECIMAL -> DOUBLE).
NUMERIC_RANK = {"INTEGER": 0, "BIGINT": 1, "DECIMAL": 2, "DOUBLE": 3}


def to_arrow(t: SqlType) -> pa.DataType:
    """The Arrow type that holds values of `t` in a record batch."""
    if t.base in _PRIMITIVE_TO_ARROW:
        return _PRIMITIVE_TO_ARROW[t.base]
    if t.base == "DECIMAL":
        return pa.decimal128(t.precision, t.scale) if t.precision <= 38 else pa.decimal256(t.precision, t.scale)
    if t.base == "ARRAY":
        return pa.list_(to_arrow(t.element))
    if t.base == "MAP":
        return pa.map_(to_arrow(t.key), to_arrow(t.value))
    if t.base == "STRUCT":
        return pa.struct([(name, to_arrow(ft)) for name, ft in t.fields])
    raise ValueError(f"no Arrow type for {t}")


def from_arrow(t: pa.DataType) -> SqlType:
    """The SQL type of an Arrow type (the inverse of to_arrow, widening where SQL has no match)."""
    if pa.types.is_boolean(t):
        return BOOLEAN
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_int32(t):
        return INTEGER
    if pa.types.is_integer(t):
        return BIGINT
    if pa.types.is_floating(t):
        return DOUBLE
    if pa.types.is_decimal(t):
        return decimal(t.precision, t.scale)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return STRING
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return BYTES
    if pa.types.is_date(t):
        return DATE
    if pa.types.is_time(t):
        return TIME
    if pa.types.is_timestamp(t):
        return TIMESTAMP
    if pa.types.is_map(t):
        return map_of(from_arrow(t.key_type), from_arrow(t.item_type))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return array(from_arrow(t.value_type))
    if pa.types.is_struct(t):
        return struct([(t.field(i).name, from_arrow(t.field(i).type)) for i in range(t.num_fields)])
    if pa.types.is_null(t):
        return STRING
    raise ValueError(f"no SQL type for Arrow {t}")


def is_numeric(t: SqlType) -> bool:
    return t.base in NUMERIC_RANK


def is_integral(t: SqlType) -> bool:
    return t.base in ("INTEGER", "BIGINT")
