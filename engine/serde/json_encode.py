"""JSON encoding, as ksqlDB writes JSON: members named exactly as the columns, BYTES as base64,
DATE/TIME/TIMESTAMP as days / ms of day / epoch ms, a non-finite DOUBLE quoted. Documents are
built by DuckDB's JSON functions, except those holding a DECIMAL: DuckDB writes a DECIMAL as a
double (`5.4` for 5.40) where ksqlDB writes every digit of its scale, so those are built as text
(with DOUBLEs as Java's Double.toString).
"""
from __future__ import annotations

import orjson

from pyksqlite.common.duck import quote_identifier, quote_string
from pyksqlite.common.number_text import java_double_sql
from pyksqlite.common.schema import Column
from pyksqlite.common.types import SqlType



def _needs_rewrite(t: SqlType) -> bool:
    if t.base in ("BYTES", "DATE", "TIME", "TIMESTAMP", "DOUBLE"):
        return True
    children = [t.element, t.key, t.value] + [ft for _, ft in (t.fields or ())]
    return any(c is not None and _needs_rewrite(c) for c in children)


def json_ready_sql(x: str, t: SqlType, depth: int = 0) -> str:
    """An expression giving `x` in the shape ksqlDB writes it to JSON."""
    if not _needs_rewrite(t):
        return x
    if t.base == "BYTES":
        return f"to_base64({x})"
    if t.base == "DATE":
        return f"({x} - DATE '1970-01-01')"
    if t.base == "TIME":
        return f"(epoch_us({x}) // 1000)"
    if t.base == "TIMESTAMP":
        return f"epoch_ms({x}::TIMESTAMP)"
    if t.base == "DOUBLE":
        # Jackson, which ksqlDB writes JSON with, quotes the numbers JSON has no literal for.
        return (f"(CASE WHEN isnan({x}) THEN '\"NaN\"'::JSON WHEN isinf({x}) AND {x} > 0 "
                f"THEN '\"Infinity\"'::JSON WHEN isinf({x}) THEN '\"-Infinity\"'::JSON ELSE to_json({x}) END)")
    e = f"x{depth}"
    if t.base == "ARRAY":
        return f"list_transform({x}, lambda {e}: {json_ready_sql(e, t.element, depth + 1)})"
    if t.base == "MAP":
        value = json_ready_sql(f"{e}.value", t.value, depth + 1)
        return f"map_from_entries(list_transform(map_entries({x}), lambda {e}: {{'key': {e}.key, 'value': {value}}}))"
    fields = ", ".join(f"{quote_identifier(n)} := {json_ready_sql(f'{x}.{quote_identifier(n)}', ft, depth + 1)}"
                       for n, ft in t.fields)
    return f"(CASE WHEN {x} IS NOT NULL THEN struct_pack({fields}) END)"


def encode_sql(columns: list[Column], wrapped: bool) -> str:
    names = [quote_identifier(f"c{i}") for i in range(len(columns))]
    return f"SELECT {encode_columns_sql(columns, names, wrapped)} AS doc FROM rows"


def encode_columns_sql(columns: list[Column], values: list[str], wrapped: bool) -> str:
    """The JSON document of the columns' values: an object with members named exactly as the
    columns, or the one value alone."""
    if any(_contains_decimal(c.type) for c in columns):
        # DuckDB's JSON functions write a DECIMAL as a double (`5.4` for 5.40), ksqlDB every
        # digit of its scale: such documents are built as text.
        if not wrapped:
            return json_text_sql(values[0], columns[0].type)
        members = " || ',' || ".join(
            f"{quote_string(orjson.dumps(c.name).decode() + ':')} || coalesce({json_text_sql(v, c.type)}, 'null')"
            for c, v in zip(columns, values))
        return f"('{{' || {members} || '}}')"
    ready = [json_ready_sql(v, c.type) for v, c in zip(values, columns)]
    if not wrapped:
        return f"to_json({ready[0]})"
    return _json_object_sql(columns, ready)


def _contains_decimal(t: SqlType) -> bool:
    children = [t.element, t.key, t.value] + [ft for _, ft in (t.fields or ())]
    return t.base == "DECIMAL" or any(c is not None and _contains_decimal(c) for c in children)


def json_text_sql(x: str, t: SqlType, depth: int = 0) -> str:
    """JSON text (VARCHAR) of value `x` as ksqlDB writes it: a DECIMAL with all the digits of
    its scale, a DOUBLE as Java's Double.toString; NULL for a NULL value."""
    e = f"t{depth}"
    if t.base == "DECIMAL":
        return f"CAST({x} AS VARCHAR)"
    if t.base == "DOUBLE":
        return (f"(CASE WHEN isnan({x}) OR isinf({x}) THEN '\"' || {java_double_sql(x)} || '\"' "
                f"ELSE {java_double_sql(x)} END)")
    if t.base == "ARRAY":
        items = f"list_transform({x}, lambda {e}: coalesce({json_text_sql(e, t.element, depth + 1)}, 'null'))"
        return f"('[' || array_to_string({items}, ',') || ']')"
    if t.base == "MAP":
        entry = (f"CAST(to_json(CAST({e}.key AS VARCHAR)) AS VARCHAR) || ':' || "
                 f"coalesce({json_text_sql(f'{e}.value', t.value, depth + 1)}, 'null')")
        return f"('{{' || array_to_string(list_transform(map_entries({x}), lambda {e}: {entry}), ',') || '}}')"
    if t.base == "STRUCT":
        if not t.fields:
            return f"(CASE WHEN {x} IS NOT NULL THEN '{{}}' END)"
        members = " || ',' || ".join(
            f"{quote_string(orjson.dumps(n).decode() + ':')} || "
            f"coalesce({json_text_sql(struct_field(x, n), ft, depth + 1)}, 'null')" for n, ft in t.fields)
        return f"(CASE WHEN {x} IS NOT NULL THEN '{{' || {members} || '}}' END)"
    return f"CAST(to_json({json_ready_sql(x, t, depth)}) AS VARCHAR)"


def struct_field(x: str, name: str) -> str:
    return f"struct_extract({x}, {quote_string(name)})"


def _json_object_sql(columns: list[Column], values: list[str]) -> str:
    """The JSON object of the columns' values, members named exactly as the columns."""
    if distinct_ignoring_case([c.name for c in columns]):
        members = ", ".join(f"{quote_identifier(c.name)} := {v}" for c, v in zip(columns, values))
        return f"to_json(struct_pack({members}))"
    # DuckDB struct fields match case-insensitively: `a` and `A` need string keys.
    members = ", ".join(f"{quote_string(c.name)}, {v}" for c, v in zip(columns, values))
    return f"json_object({members})"


def distinct_ignoring_case(names: list[str]) -> bool:
    """Whether no two names are equal ignoring case (as DuckDB compares identifiers)."""
    return len({n.lower() for n in names}) == len({n.upper() for n in names}) == len(names)
