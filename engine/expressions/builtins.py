"""The built-in scalar functions: one registration per variant, as DuckDB SQL templates.

Adding a function is one `reg(...)` line. Java date patterns (`yyyy-MM-dd HH:mm:ss.SSS`) are
translated to strftime formats when the pattern is a literal.
"""
from __future__ import annotations

from pyksqlite.common.timestamps import java_to_strftime
from pyksqlite.common.duck import quote_string
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.builtins_common import literal_string
from pyksqlite.expressions.functions import FunctionRegistry
from pyksqlite.expressions.functions_lambda import register_lambda_functions
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


def register_builtins(registry: FunctionRegistry) -> None:
    _register_strings(registry)
    _register_math(registry)
    _register_nulls_and_collections(registry)
    _register_time(registry)
    _register_aggregate_names(registry)
    register_lambda_functions(registry)
    register_extended_builtins(registry)
    _fill_descriptions(registry)


# SHOW FUNCTIONS / DESCRIBE FUNCTION text for functions registered without one.
_DESCRIPTIONS = {
    "CEIL": "The smallest integral value not less than the argument.",
    "FLOOR": "The largest integral value not greater than the argument.",
    "EXP": "Euler's number e raised to the power of the argument.",
    "LN": "The natural logarithm of the argument.",
    "SQRT": "The square root of the argument.",
    "SIGN": "The sign of the argument: -1, 0 or 1.",
    "MASK_KEEP_LEFT": "Masks all but the first n characters of a string.",
    "MASK_KEEP_RIGHT": "Masks all but the last n characters of a string.",
    "MASK_LEFT": "Masks the first n characters of a string.",
    "MASK_RIGHT": "Masks the last n characters of a string.",
    "AVG": "The average of a column.",
    "COLLECT_LIST": "Gathers all values of a column into an array (with duplicates).",
    "COLLECT_SET": "Gathers the distinct values of a column into an array.",
    "CORRELATION": "The correlation coefficient of two columns.",
    "COUNT": "The number of rows, or of non-NULL values of a column.",
    "COUNT_DISTINCT": "The approximate number of distinct values of a column.",
    "EARLIEST_BY_OFFSET": "The earliest value(s) of a column, by offset.",
    "LATEST_BY_OFFSET": "The latest value(s) of a column, by offset.",
    "HISTOGRAM": "A map of each distinct string value to the number of times it occurs.",
    "MAX": "The maximum value of a column.",
    "MIN": "The minimum value of a column.",
    "STDDEV_SAMP": "The sample standard deviation of a column.",
    "STDDEV_SAMPLE": "The sample standard deviation of a column.",
    "SUM": "The sum of a column.",
    "SUM_LIST": "The sum of the elements of array columns.",
    "TOPK": "The top k values of a column.",
    "TOPKDISTINCT": "The top k distinct values of a column.",
    "ATTR": "The value of a column if it is the same for every row of the group, else NULL.",
}


def _fill_descriptions(registry: FunctionRegistry) -> None:
    for name, text in _DESCRIPTIONS.items():
        if registry.exists(name) and not registry.get(name).description:
            registry.set_description(name, text)


def register_extended_builtins(registry: FunctionRegistry) -> None:
    """The function families that live in their own `builtins_*` modules."""
    from pyksqlite.expressions.builtins_bytes import register_bytes
    from pyksqlite.expressions.builtins_math import register_math
    from pyksqlite.expressions.builtins_string import register_strings
    register_math(registry)
    register_strings(registry)
    register_bytes(registry)
    from pyksqlite.expressions.builtins_collections import register_collections
    register_collections(registry)
    from pyksqlite.expressions.builtins_json import register_json
    register_json(registry)
    from pyksqlite.expressions.builtins_url import register_url
    register_url(registry)
    from pyksqlite.expressions.builtins_datetime import register_datetime
    register_datetime(registry)


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
        reg(name, (ANY_DECIMAL,), _decimal_rounded, _cast_to(f"{name.lower()}({{0}})", _decimal_rounded), **cat)
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


def _literal_pattern(sql: str) -> str:
    pattern = literal_string(sql)
    if pattern is None:
        raise KsqlStatementException("Date/time format patterns must be string literals.")
    return quote_string(java_to_strftime(pattern))


def _register_time(registry: FunctionRegistry) -> None:
    reg = registry.register
    cat = dict(category="DATE / TIME")
    reg("TIMESTAMPTOSTRING", (BIGINT, STRING), STRING,
        lambda a, t: f"strftime(CAST(epoch_ms({a[0]}) AS TIMESTAMP), {_literal_pattern(a[1])})",
        description="Format epoch milliseconds with a Java pattern.", **cat)
    reg("STRINGTOTIMESTAMP", (STRING, STRING), BIGINT,
        lambda a, t: f"epoch_ms(strptime({a[0]}, {_literal_pattern(a[1])}))",
        description="Parse a string with a Java pattern into epoch milliseconds.", **cat)
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
    from pyksqlite.expressions.table_functions import register_table_functions
    register_table_functions(registry)
