"""ksqlDB's table functions (UDTFs): each call turns one input row into zero or more rows.

A table function is registered like a scalar function (kind "table") whose template renders a
DuckDB LIST expression: the values one input row expands to. The flatten operator
(`engine/operators/table_function.py`) `unnest`s those lists, so the whole batch is expanded by
one DuckDB statement; several table functions in one SELECT are zipped by position, the shorter
lists padded with NULLs, as ksqlDB does.
"""
from __future__ import annotations

from pyksqlite.expressions.functions import FunctionRegistry
from pyksqlite.grammar.ast import SqlType

ANY_DECIMAL = SqlType("DECIMAL")


def _element_type(types):
    return types[0].element


def _same_as_first(types):
    return types[0]


def cube_sql(array: str) -> str:
    """Every combination of the array's elements with NULL in place of some of them, in
    ksqlDB's order (a bit per element, the first element the most significant). An element
    that is NULL already yields each combination once."""
    n = f"len({array})"
    bit = f"CAST(1 AS BIGINT) << ({n} - 1 - i)"
    null_bits = f"list_sum(list_transform(range({n}), lambda i: CASE WHEN {array}[i + 1] IS NULL THEN {bit} ELSE 0 END))"
    masks = f"list_filter(range(CAST(1 AS BIGINT) << {n}), lambda m: (m & {null_bits}) = 0)"
    pick = f"list_transform(range({n}), lambda i: CASE WHEN ((m >> ({n} - 1 - i)) & 1) = 1 THEN {array}[i + 1] END)"
    return f"list_transform({masks}, lambda m: {pick})"


def register_table_functions(registry: FunctionRegistry) -> None:
    reg = registry.register
    common = dict(kind="table", category="TABLE")
    explode = "Explodes an array. This function outputs one value for each element of the array."
    reg("EXPLODE", ("ARRAY<T>",), _element_type, "{0}", param_names=("list",),
        description=explode, **common)
    cube = ("Takes as argument an array of columns and outputs all possible combinations of them. "
            "It produces 2^d new rows where d is the number of columns given as parameter. "
            "Duplicate entries for columns with null value are skipped.")
    reg("CUBE_EXPLODE", ("ARRAY<T>",), _same_as_first, lambda a, t: cube_sql(a[0]),
        param_names=("cube",), description=cube, **common)
    registry.set_description("EXPLODE", explode)
    registry.set_description("CUBE_EXPLODE", cube)


# The signatures ksqlDB lists for EXPLODE in its messages: its DECIMAL overload is separate.
DISPLAY_SIGNATURES = {"EXPLODE": ("explode(ARRAY<DECIMAL> input)", "explode(ARRAY<T> list)"),
                      "CUBE_EXPLODE": ("cube_explode(ARRAY<DECIMAL> input)", "cube_explode(ARRAY<T> cube)")}
