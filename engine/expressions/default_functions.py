"""The shared function registry: every built-in family registered once, in one order.

The registry (`functions.FunctionRegistry`) knows nothing of the families; the families
(`builtins`, `builtins_*`, `functions_lambda`, `table_functions`) know only the registry. This
module, above both, fills it. Python UDFs (`python_udf`) add themselves to the same registry.
"""
from __future__ import annotations

from typing import Optional

from pyksqlite.expressions.builtins import register_core
from pyksqlite.expressions.builtins_bytes import register_bytes
from pyksqlite.expressions.builtins_collections import register_collections
from pyksqlite.expressions.builtins_datetime import register_datetime
from pyksqlite.expressions.builtins_json import register_json
from pyksqlite.expressions.builtins_math import register_math
from pyksqlite.expressions.builtins_string import register_strings
from pyksqlite.expressions.builtins_url import register_url
from pyksqlite.expressions.functions import FunctionRegistry
from pyksqlite.expressions.functions_lambda import register_lambda_functions
from pyksqlite.expressions.table_functions import register_table_functions

_DEFAULT: Optional[FunctionRegistry] = None


def default_registry() -> FunctionRegistry:
    """The shared registry with every built-in function."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = FunctionRegistry()
        register_builtins(_DEFAULT)
    return _DEFAULT


def register_builtins(registry: FunctionRegistry) -> None:
    """Every built-in family. The order matters: a later family may replace an earlier one's
    variants of a name (`clear_variants`), and descriptions go to names that lack one."""
    register_core(registry)
    register_table_functions(registry)
    register_lambda_functions(registry)
    register_math(registry)
    register_strings(registry)
    register_bytes(registry)
    register_collections(registry)
    register_json(registry)
    register_url(registry)
    register_datetime(registry)
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
