"""ksqlDB's test table function TEST_UDTF: one output row per value it is given.

With one argument it returns that value (its type follows the argument; a DECIMAL's result type
comes from a schema provider, DECIMAL(30, 10) as the QTT cases describe the output). With seven
arguments (INT, BIGINT, DOUBLE, BOOLEAN, STRING, DECIMAL, STRUCT), or seven arrays or maps of
them, it returns each value's Java `toString`: the element of each array, the value of each map.
"""
from _java_text import java_string, java_struct

from pyksqlite.udf import udtf
from pyksqlite.grammar.ast import decimal

SCALARS = ["INT", "BIGINT", "DOUBLE", "BOOLEAN", "STRING"]
STRUCT = "STRUCT<A STRING>"


def _text(value) -> str:
    return java_struct(value) if isinstance(value, dict) else java_string(value)


def _one_value(value):
    return [value]


for _type in SCALARS + [STRUCT]:
    udtf(name="test_udtf", params=[_type], returns=_type, per_row=True)(_one_value)

udtf(name="test_udtf", params=["DECIMAL"], returns=lambda types: decimal(30, 10), per_row=True)(_one_value)


@udtf(name="test_udtf", params=SCALARS + ["DECIMAL", STRUCT], returns="STRING", per_row=True,
      null_on_null=False)
def each_as_text(*values):
    return [_text(v) for v in values]


@udtf(name="test_udtf", params=[f"ARRAY<{t}>" for t in SCALARS + ["DECIMAL(20, 10)", STRUCT]],
      returns="STRING", per_row=True, null_on_null=False)
def elements_as_text(*arrays):
    return [_text(v) for array in arrays for v in (array or [])]


@udtf(name="test_udtf", params=[f"MAP<STRING, {t}>" for t in SCALARS + ["DECIMAL(20, 10)", STRUCT]],
      returns="STRING", per_row=True, null_on_null=False)
def map_values_as_text(*maps):
    return [_text(v) for m in maps for v in (m or {}).values()]
