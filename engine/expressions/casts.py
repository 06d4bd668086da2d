"""CAST between ksqlDB types as DuckDB SQL, with Java's conversions where DuckDB's differ:
narrowing integer casts wrap, DOUBLE/DECIMAL to integer truncate, DOUBLE prints as
`Double.toString` (`1.0E10`), collections print as Java's `toString` (`[1, 3]`, `{k=1}`).
"""
from __future__ import annotations

from itertools import count
from typing import Optional

from pyksqlite.common.duck import quote_identifier, quote_string
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.typing_rules import duckdb_type
from pyksqlite.common.types import is_numeric
from pyksqlite.grammar.ast import SqlType

_fresh_names = count()


def fresh_lambda_param() -> str:
    """A lambda parameter name that cannot collide with user columns or outer lambdas."""
    return f"__v{next(_fresh_names)}"


def bind_once(sql: str, body_of) -> str:
    """`body_of(name)` evaluated with `name` bound to `sql`, so `sql` is evaluated once."""
    name = fresh_lambda_param()
    return f"list_transform([{sql}], lambda {name}: {body_of(name)})[1]"


def wrap_int32(sql: str) -> str:
    """Java's (int) narrowing of a BIGINT-valued expression: keep the low 32 bits."""
    return f"CAST(((CAST({sql} AS BIGINT) + 2147483648) & 4294967295) - 2147483648 AS INTEGER)"


def wrap_int64(sql: str) -> str:
    """Java's (long) narrowing of a HUGEINT-valued expression: keep the low 64 bits."""
    return (f"CAST(((CAST({sql} AS HUGEINT) + 9223372036854775808) & "
            f"CAST(18446744073709551615 AS HUGEINT)) - 9223372036854775808 AS BIGINT)")


def cast_sql(sql: str, source: Optional[SqlType], target: SqlType) -> str:
    """SQL converting `sql` (of type `source`; None for an untyped NULL) to `target`."""
    if source is None:
        return f"CAST(NULL AS {duckdb_type(target)})"
    if source == target:
        return sql
    if target.base == "STRING":
        return to_string_sql(sql, source)
    if is_numeric(target) and (is_numeric(source) or source.base == "STRING"):
        return _to_numeric_sql(sql, source, target)
    if target.base == "BOOLEAN" and source.base == "STRING":
        return f"CAST(lower(trim({sql})) AS BOOLEAN)"
    if source.base == target.base == "ARRAY":
        return _map_list(sql, lambda e: cast_sql(e, source.element, target.element))
    if source.base == target.base == "MAP":
        return _cast_map(sql, source, target)
    if source.base == target.base == "STRUCT":
        return _cast_struct(sql, source, target)
    if _temporal_cast_allowed(source, target):
        return f"CAST({sql} AS {duckdb_type(target)})"
    raise KsqlStatementException(f"Cast of {source} to {target} is not supported")


def _temporal_cast_allowed(source: SqlType, target: SqlType) -> bool:
    allowed = {("STRING", "TIMESTAMP"), ("STRING", "DATE"), ("STRING", "TIME"),
               ("TIMESTAMP", "DATE"), ("TIMESTAMP", "TIME"), ("DATE", "TIMESTAMP")}
    return (source.base, target.base) in allowed


def _to_numeric_sql(sql: str, source: SqlType, target: SqlType) -> str:
    if source.base == "STRING":
        return f"CAST(trim({sql}) AS {duckdb_type(target)})"
    if target.base in ("INTEGER", "BIGINT") and source.base in ("DOUBLE", "DECIMAL"):
        sql = f"trunc({sql})"
    if target.base == "INTEGER" and source.base in ("BIGINT", "DECIMAL"):
        return wrap_int32(sql)
    return f"CAST({sql} AS {duckdb_type(target)})"


def to_string_sql(sql: str, source: SqlType) -> str:
    """Java's string form of a value, as ksqlDB's CAST(x AS STRING) prints it."""
    if source.base == "DOUBLE":
        return java_double_string(sql)
    if source.base == "TIMESTAMP":
        return f"strftime({sql}, '%Y-%m-%dT%H:%M:%S.%g')"
    if source.base == "ARRAY":
        items = _map_list(sql, lambda e: f"coalesce({to_string_sql(e, source.element)}, 'null')")
        return f"('[' || array_to_string({items}, ', ') || ']')"
    if source.base == "MAP":
        return _map_to_string(sql, source)
    if source.base == "STRUCT":
        return _struct_to_string(sql, source)
    return f"CAST({sql} AS VARCHAR)"


def java_double_string(sql: str) -> str:
    """`Double.toString`: plain notation in [1e-3, 1e7), else `d.dddE[-]n`, shortest digits."""
    def render(v: str) -> str:
        plain = f"CAST({v} AS VARCHAR)"
        return (f"CASE WHEN isnan({v}) THEN 'NaN' WHEN isinf({v}) THEN "
                f"(CASE WHEN {v} > 0 THEN 'Infinity' ELSE '-Infinity' END) "
                f"WHEN {v} = 0 OR (abs({v}) >= 0.001 AND abs({v}) < 10000000) THEN {plain} "
                f"ELSE (CASE WHEN {v} < 0 THEN '-' ELSE '' END) || {_scientific(f'abs({v})')} END")
    return bind_once(sql, render)


def _scientific(abs_sql: str) -> str:
    """Java's scientific form of a positive double, from DuckDB's shortest-digits text."""
    def render(text: str) -> str:
        digits = (f"ltrim(replace(CASE WHEN contains({text}, 'e') THEN split_part({text}, 'e', 1) "
                  f"ELSE rtrim(replace({text}, '.', ''), '0') END, '.', ''), '0')")
        exponent = (f"CASE WHEN contains({text}, 'e') THEN CAST(split_part({text}, 'e', 2) AS INTEGER) "
                    f"WHEN starts_with({text}, '0.') THEN -(length(split_part({text}, '.', 2)) - "
                    f"length(ltrim(split_part({text}, '.', 2), '0')) + 1) "
                    f"ELSE length(split_part({text}, '.', 1)) - 1 END")
        mantissa = bind_once(f"rtrim({digits}, '0')", lambda d: (
            f"{d}[1] || '.' || CASE WHEN length({d}) > 1 THEN {d}[2:] ELSE '0' END"))
        return f"{mantissa} || 'E' || CAST({exponent} AS VARCHAR)"
    return bind_once(f"CAST({abs_sql} AS VARCHAR)", render)


def _map_list(sql: str, element_sql) -> str:
    name = fresh_lambda_param()
    return f"list_transform({sql}, lambda {name}: {element_sql(name)})"


def _cast_map(sql: str, source: SqlType, target: SqlType) -> str:
    name = fresh_lambda_param()
    key = cast_sql(f"{name}.key", source.key, target.key)
    value = cast_sql(f"{name}.value", source.value, target.value)
    entries = f"list_transform(map_entries({sql}), lambda {name}: {{'key': {key}, 'value': {value}}})"
    return f"CASE WHEN {sql} IS NULL THEN NULL ELSE map_from_entries({entries}) END"


def _cast_struct(sql: str, source: SqlType, target: SqlType) -> str:
    source_fields = dict(source.fields)
    parts = []
    for name, field_type in target.fields:
        if name in source_fields:
            value = cast_sql(struct_field_sql(sql, name), source_fields[name], field_type)
        else:
            value = f"CAST(NULL AS {duckdb_type(field_type)})"
        parts.append(f"{quote_identifier(name)} := {value}")
    return f"CASE WHEN {sql} IS NULL THEN NULL ELSE struct_pack({', '.join(parts)}) END"


def struct_field_sql(struct_sql: str, name: str) -> str:
    """Field `name` of the STRUCT value `struct_sql`."""
    return f"struct_extract({struct_sql}, {quote_string(name)})"


def _map_to_string(sql: str, source: SqlType) -> str:
    name = fresh_lambda_param()
    key = to_string_sql(f"{name}.key", source.key)
    value = f"coalesce({to_string_sql(f'{name}.value', source.value)}, 'null')"
    entries = f"list_transform(map_entries({sql}), lambda {name}: {key} || '=' || {value})"
    return f"('{{' || array_to_string({entries}, ', ') || '}}')"


def _struct_to_string(sql: str, source: SqlType) -> str:
    parts = [f"{quote_string(name + '=')} || coalesce({to_string_sql(struct_field_sql(sql, name), ft)}, 'null')"
             for name, ft in source.fields]
    body = " || ',' || ".join(parts) if parts else "''"
    return f"CASE WHEN {sql} IS NULL THEN NULL ELSE 'Struct{{' || {body} || '}}' END"
