"""The fast path of JSON decoding: one lax `json_transform` parse for clean, flat records.

ksqlDB's JSON rules (case-insensitive names, coercions, per-record errors) are implemented
exactly in `json_format`, at the cost of several passes per field. Most records in a stream are
clean: every declared field present with a value of the declared type. This path decodes a
batch with a single DuckDB `json_transform`, using the member spellings of the batch's first
record, and hands back the rows it cannot vouch for (any NULL, a fractional or too large
number for an integer column) so the exact path decodes just those.
"""
from __future__ import annotations

from typing import Optional

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from engine.schema import Column
from engine.types import to_arrow

# Column types whose lax json_transform result equals ksqlDB's for a non-null result, with
# integers read as DOUBLE so that fractional values can be recognized and sent to the exact path.
_TRANSFORM_TYPES = {"BIGINT": "DOUBLE", "INTEGER": "DOUBLE", "DOUBLE": "DOUBLE", "STRING": "VARCHAR"}
_EXACT_DOUBLE_LIMIT = 2 ** 53


def supports(columns: list[Column], wrapped: bool) -> bool:
    return wrapped and bool(columns) and all(c.type.base in _TRANSFORM_TYPES for c in columns)


def decode(text: pa.Array, columns: list[Column], run_sql) -> Optional[tuple[list[pa.Array], pa.Array]]:
    """Decoded columns and a mask of the rows the exact path must decode; None if this batch
    does not suit the fast path (no record to learn the spellings from)."""
    spellings = _spellings(text, columns)
    if spellings is None:
        return None
    structure = orjson.dumps({s: _TRANSFORM_TYPES[c.type.base] for s, c in zip(spellings, columns)}).decode()
    fields = [f"j[{_literal(s)}] AS c{i}" for i, s in enumerate(spellings)]
    sql = (f"SELECT {', '.join(fields)} FROM (SELECT json_transform(doc, {_literal(structure)}) AS j "
           "FROM raw_json)")
    try:
        result = run_sql(sql, raw_json=pa.table({"doc": text}))
    except duckdb.Error:  # a malformed document: the exact path finds and reports it
        return None
    arrays, suspect = [], pc.is_null(text)
    for i, column in enumerate(columns):
        values = result.column(i).combine_chunks()
        suspect = pc.or_(suspect, pc.is_null(values))
        if column.type.base in ("BIGINT", "INTEGER"):
            suspect = pc.or_(suspect, _not_an_exact_integer(values, column.type.base))
            values = _to_integer(values, column)
        elif column.type.base == "STRING":
            # ksqlDB renders an array member as Java's List.toString, not as JSON text.
            suspect = pc.or_(suspect, pc.fill_null(pc.starts_with(values, "["), False))
        arrays.append(values.cast(to_arrow(column.type)) if column.type.base != "INTEGER" else values)
    return arrays, pc.fill_null(suspect, True)


def _spellings(text: pa.Array, columns: list[Column]) -> Optional[list[str]]:
    """Each column's member name as the first record spells it (exact, else case-insensitive)."""
    valid = text.drop_null()
    if len(valid) == 0:
        return None
    try:
        first = orjson.loads(valid[0].as_py())
    except orjson.JSONDecodeError:
        return None
    if not isinstance(first, dict):
        return None
    by_upper = {}
    for key in first:
        by_upper.setdefault(key.upper(), key)
    return [c.name if c.name in first else by_upper.get(c.name.upper(), c.name) for c in columns]


def _not_an_exact_integer(values: pa.Array, base: str) -> pa.Array:
    limit = _EXACT_DOUBLE_LIMIT if base == "BIGINT" else 2 ** 31
    fractional = pc.not_equal(values, pc.trunc(values))
    too_large = pc.greater_equal(pc.abs(values), limit)
    return pc.fill_null(pc.or_(fractional, too_large), False)


def _to_integer(values: pa.Array, column: Column) -> pa.Array:
    safe = pc.if_else(_not_an_exact_integer(values, column.type.base), 0.0, values)
    return pc.cast(safe, to_arrow(column.type), safe=False)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
