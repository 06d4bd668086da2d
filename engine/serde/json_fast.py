"""The fast path of JSON decoding: one lax `json_transform` parse for clean, flat records.

ksqlDB's JSON rules (case-insensitive names, coercions, per-record errors) are implemented
exactly in `json_format`, at the cost of several passes per field. Most records in a stream are
clean: every declared field present with a value of the declared type. This path decodes a
batch with a single DuckDB `json_transform`, using the member spellings of the batch's first
record, and flags the rows it cannot vouch for (any NULL, a fractional or too large number for
an integer column, an array read as a string) so the exact path decodes those.

`decode_sql` gives the SQL, so a query can decode inside its own statement (see
`pyksqlite.operators.fused`); `decode` runs it on its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.duck import quote_string
from pyksqlite.common.schema import Column
from pyksqlite.common.types import to_arrow

# Column types whose lax json_transform result equals ksqlDB's for a non-null result. Integers
# are read as DOUBLE so that fractional values can be recognized and left to the exact path.
_TRANSFORM_TYPES = {"BIGINT": "DOUBLE", "INTEGER": "DOUBLE", "DOUBLE": "DOUBLE", "STRING": "VARCHAR"}
_SQL_TYPES = {"BIGINT": "BIGINT", "INTEGER": "INTEGER", "DOUBLE": "DOUBLE", "STRING": "VARCHAR"}
_EXACT_LIMITS = {"BIGINT": 2 ** 53, "INTEGER": 2 ** 31}


def supports(columns: list[Column], wrapped: bool) -> bool:
    return wrapped and bool(columns) and all(c.type.base in _TRANSFORM_TYPES for c in columns)


@dataclass(frozen=True)
class DecodeSql:
    """`transform`: an expression parsing the document into a struct (call it `j`); `values`:
    one expression over `j` per column; `suspect`: true for rows the exact path must decode."""
    transform: str
    values: list[str]
    suspect: str


def decode_sql(columns: list[Column], spellings: list[str], document: str) -> DecodeSql:
    """The fast decode of `document` (a VARCHAR expression) for `columns`."""
    structure = orjson.dumps({s: _TRANSFORM_TYPES[c.type.base] for s, c in zip(spellings, columns)}).decode()
    values, doubts = [], []
    for spelling, column in zip(spellings, columns):
        member = f"j[{quote_string(spelling)}]"
        base = column.type.base
        doubts.append(f"{member} IS NULL")
        if base in _EXACT_LIMITS:
            doubts.append(f"{member} <> trunc({member}) OR abs({member}) >= {_EXACT_LIMITS[base]}")
            values.append(f"TRY_CAST({member} AS {_SQL_TYPES[base]})")
        elif base == "STRING":
            # ksqlDB renders an array member as Java's List.toString, not as JSON text.
            doubts.append(f"starts_with({member}, '[')")
            values.append(member)
        else:
            values.append(member)
    suspect = f"({document} IS NOT NULL AND coalesce({' OR '.join(doubts)}, true))"
    return DecodeSql(f"json_transform({document}, {quote_string(structure)})", values, suspect)


def spellings_of(text: pa.Array, columns: list[Column]) -> Optional[list[str]]:
    """Each column's member name as the batch's first record spells it (exact, else
    case-insensitive); None when there is no first record that is a JSON object."""
    valid = text.drop_null()
    if len(valid) == 0:
        return None
    first_value = valid[0].as_py()
    try:
        first = orjson.loads(first_value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(first, dict):
        return None
    by_upper = {}
    for key in first:
        by_upper.setdefault(key.upper(), key)
    return [c.name if c.name in first else by_upper.get(c.name.upper(), c.name) for c in columns]


def decode(text: pa.Array, columns: list[Column], run_sql) -> Optional[tuple[list[pa.Array], pa.Array]]:
    """Decoded columns and a mask of the rows the exact path must decode; None if this batch
    does not suit the fast path."""
    spellings = spellings_of(text, columns)
    if spellings is None:
        return None
    sql = decode_sql(columns, spellings, "doc")
    select = ", ".join(f"{value} AS c{i}" for i, value in enumerate(sql.values))
    query = f"SELECT {select}, {sql.suspect} AS __suspect FROM (SELECT doc, {sql.transform} AS j FROM raw_json)"
    try:
        result = run_sql(query, raw_json=pa.table({"doc": text}))
    except duckdb.Error:  # a malformed document: the exact path finds and reports it
        return None
    arrays = [result.column(i).combine_chunks().cast(to_arrow(c.type)) for i, c in enumerate(columns)]
    suspect = pc.or_(result.column("__suspect").combine_chunks(), pc.is_null(text))
    return arrays, pc.fill_null(suspect, True)
