"""The core built-in scalar functions: one registration per variant, as DuckDB SQL templates.
The other families live in `builtins_*`; `default_functions` puts them all in one registry.

Adding a function is one `reg(...)` line. Java date patterns (`yyyy-MM-dd HH:mm:ss.SSS`) are
translated to strftime formats when the pattern is a literal.
"""
from __future__ import annotations

from pyksqlite.expressions.functions import FunctionRegistry
from pyksqlite.expressions.typing_rules import duckdb_type, widest_numeric
from pyksqlite.grammar.ast import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, TIMESTAMP, SqlType, decimal

ANY_DECIMAL = SqlType("DECIMAL")
NUMERICS = (INTEGER, BIGINT, DOUBLE, ANY_DECIMAL)


def _same_as_first(types):
    return types[0]


def _widest(types):
    present = [t for t in types if t is not None]
    return widest_numeric(present) if present and all(t.base != "STRING" for t in present) \
        else (present[0] if present else STRING)


def _cast_to(template: str, result_of):
    """A template whose result is cast to the variant's return type (DuckDB's may differ)."""
    def render(args, types):
        return f"CAST({template.format(*args, args=', '.join(args))} AS {duckdb_type(result_of(types))})"
    return render


def register_core(registry: FunctionRegistry) -> None:
    """The core families: strings, math, NULL handling, time, and the aggregate names."""
    _register_strings(registry)
    _register_math(registry)
    _register_nulls_and_collections(registry)
    _register_time(registry)
    _register_aggregate_names(registry)


def _register_strings(registry: FunctionRegistry) -> None:
    reg = registry.register
    cat = dict(category="STRING")
    reg("UCASE", (STRING,), STRING, "upper({0})", description="Upper-case a string.", **cat)
    reg("LCASE", (STRING,), STRING, "lower({0})", description="Lower-case a string.", **cat)
    reg("LEN", (STRING,), INTEGER, "CAST(length({0}) AS INTEGER)",
        description="The length of a string.", **cat)
    reg("TRIM", (STRING,), STRING, "trim({0}, ' ')", description="Trim spaces at both ends.", **cat)
    reg("REPLACE", (STRING, STRING, STRING), STRING, "replace({0}, {1}, {2})",
        description="Replace every occurrence of a substring.", **cat)
    reg("CONCAT", (STRING, STRING), STRING, "concat({args})", variadic=True,
        description="Concatenate strings, skipping NULLs.", **cat)
    reg("CONCAT_WS", (STRING, STRING, STRING), STRING,
        "CASE WHEN {0} IS NULL THEN NULL ELSE concat_ws({args}) END", variadic=True,
        description="Concatenate strings with a separator, skipping NULLs.", **cat)
    substring_start = "CASE WHEN {1} > 0 THEN {1} ELSE length({0}) + {1} + 1 END"
    reg("SUBSTRING", (STRING, INTEGER), STRING, f"substring({{0}}, {substring_start})",
        description="The substring from a 1-based position (negative: from the end).", **cat)
    reg("SUBSTRING", (STRING, INTEGER, INTEGER), STRING,
        f"substring({{0}}, {substring_start}, {{2}})", **cat)
    reg("UUID", (), STRING, "CAST(uuid() AS VARCHAR)", description="A random UUID.", **cat)
    reg("EXTRACTJSONFIELD", (STRING, STRING), STRING, "json_extract_string({0}, {1})",
        description="A field of a JSON string by JSONPath.", **cat)


def _register_math(registry: FunctionRegistry) -> None:
    reg = registry.register
    cat = dict(category="MATHEMATICAL")
    for t in NUMERICS:
        reg("ABS", (t,), _same_as_first, "abs({0})", description="Absolute value.", **cat)
    for name in ("CEIL", "FLOOR"):
        for t in (INTEGER, BIGINT, DOUBLE):
            reg(name, (t,), t, f"{name.lower()}({{0}})", **cat)
        # ksqlDB: a DECIMAL keeps its type, its scale too (CEIL(5.40) is 6.00)
        reg(name, (ANY_DECIMAL,), _same_as_first, _cast_to(f"{name.lower()}({{0}})", _same_as_first), **cat)
    reg("ROUND", (INTEGER,), INTEGER, "{0}", description="Round half up.", **cat)
    reg("ROUND", (BIGINT,), BIGINT, "{0}", **cat)
    reg("ROUND", (DOUBLE,), BIGINT, "CAST(floor({0} + 0.5) AS BIGINT)", **cat)
    reg("ROUND", (DOUBLE, INTEGER), DOUBLE, "round({0}, {1})", **cat)
    reg("ROUND", (ANY_DECIMAL,), _decimal_rounded, _cast_to("round({0})", _decimal_rounded), **cat)
    reg("ROUND", (ANY_DECIMAL, INTEGER), _same_as_first, _cast_to("round({0}, {1})", _same_as_first), **cat)
    for name, sql in (("SQRT", "sqrt"), ("EXP", "exp"), ("LN", "ln")):
        reg(name, (DOUBLE,), DOUBLE, f"{sql}({{0}})", **cat)
    reg("SIGN", (DOUBLE,), INTEGER, "CAST(sign({0}) AS INTEGER)", **cat)
    reg("RANDOM", (), DOUBLE, "random()", description="A random DOUBLE in [0, 1).", **cat)
    for name in ("GREATEST", "LEAST"):
        for t in (INTEGER, BIGINT, DOUBLE, ANY_DECIMAL, STRING):
            reg(name, (t, t), _widest, _cast_to(f"{name.lower()}({{args}})", _widest),
                variadic=True, **cat)


def _decimal_rounded(types):
    t = types[0]
    return decimal(t.precision - t.scale + 1, 0)


def _register_nulls_and_collections(registry: FunctionRegistry) -> None:
    reg = registry.register
    reg("COALESCE", ("T", "T"), _same_as_first, "coalesce({args})", variadic=True,
        category="NULL", display_name="COALESCE", description="The first non-NULL argument.")
    reg("IFNULL", ("T", "T"), _same_as_first, "coalesce({0}, {1})", category="NULL",
        description="The second argument when the first is NULL.")
    reg("NULLIF", ("T", "T"), _same_as_first, "nullif({0}, {1})", category="NULL",
        display_name="NULLIF", description="NULL when both arguments are equal.")
    reg("AS_VALUE", ("ANY",), _same_as_first, "{0}", category="OTHER",
        description="Copy a key column into the value.")
    reg("ARRAY_LENGTH", ("ARRAY<T>",), INTEGER, "CAST(len({0}) AS INTEGER)", category="ARRAY",
        description="The number of elements of an array.")
    reg("ARRAY_CONTAINS", ("ARRAY<T>", "T"), BOOLEAN, "list_contains({0}, {1})", category="ARRAY",
        description="Whether an array contains a value.")


def _register_time(registry: FunctionRegistry) -> None:
    """The epoch functions; the pattern functions are `builtins_datetime`'s."""
    reg = registry.register
    cat = dict(category="DATE / TIME")
    reg("FROM_UNIXTIME", (BIGINT,), TIMESTAMP, "CAST(epoch_ms({0}) AS TIMESTAMP_MS)",
        description="A TIMESTAMP from epoch milliseconds.", **cat)
    reg("UNIX_TIMESTAMP", (), BIGINT, "epoch_ms(now())",
        description="The current time in epoch milliseconds.", **cat)
    reg("UNIX_TIMESTAMP", (TIMESTAMP,), BIGINT, "epoch_ms(CAST({0} AS TIMESTAMP))", **cat)


def _register_aggregate_names(registry: FunctionRegistry) -> None:
    for name in ("AVG", "COLLECT_LIST", "COLLECT_SET", "CORRELATION", "COUNT", "COUNT_DISTINCT",
                 "EARLIEST_BY_OFFSET", "HISTOGRAM", "LATEST_BY_OFFSET", "MAX", "MIN",
                 "STDDEV_SAMP", "STDDEV_SAMPLE", "SUM", "TOPK", "TOPKDISTINCT", "ATTR", "SUM_LIST"):
        registry.register_kind(name, "aggregate")
