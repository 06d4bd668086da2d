"""ksqlDB's typing rules for expressions: literal types, arithmetic result types, comparability
and the DuckDB spelling of each SQL type (which types convert to which is `coercion`'s).

Pure functions of `SqlType`s; nothing here builds SQL for values.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Optional

from pyksqlite.common.duck import quote_identifier
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.coercion import common_of_two, decimal_type_of_value, to_decimal_type
from pyksqlite.common.types import NUMERIC_RANK, is_numeric
from pyksqlite.grammar.ast import BIGINT, DOUBLE, INTEGER, SqlType, decimal

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
DUCKDB_MAX_DECIMAL_PRECISION = 38

_DUCKDB_PRIMITIVES = {
    "BOOLEAN": "BOOLEAN", "INTEGER": "INTEGER", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE",
    "STRING": "VARCHAR", "BYTES": "BLOB", "DATE": "DATE", "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMP_MS",
}


def duckdb_type(t: SqlType) -> str:
    """The DuckDB type whose Arrow output is `pyksqlite.common.types.to_arrow(t)` (TIME excepted: DuckDB has
    only microsecond TIME, converted back by `arrow_conform`)."""
    if t.base in _DUCKDB_PRIMITIVES:
        return _DUCKDB_PRIMITIVES[t.base]
    if t.base == "DECIMAL":
        return f"DECIMAL({min(t.precision, DUCKDB_MAX_DECIMAL_PRECISION)}, {t.scale})"
    if t.base == "ARRAY":
        return f"{duckdb_type(t.element)}[]"
    if t.base == "MAP":
        return f"MAP({duckdb_type(t.key)}, {duckdb_type(t.value)})"
    if t.base == "STRUCT":
        _check_fields_distinct_ignoring_case(t)
        fields = ", ".join(f"{quote_identifier(name)} {duckdb_type(ft)}" for name, ft in t.fields)
        return f"STRUCT({fields})"
    raise KsqlStatementException(f"Unsupported type: {t}")


def _check_fields_distinct_ignoring_case(t: SqlType) -> None:
    """DuckDB matches STRUCT field names case-insensitively, so `a` and `A` cannot both be
    fields of one STRUCT value there (top-level columns can: they have positional names)."""
    seen: dict[str, str] = {}
    for name, _ in t.fields:
        folded = "".join(c.lower() if c.isascii() else c for c in name)   # DuckDB folds ASCII only
        other = seen.setdefault(folded, name)
        if other != name:
            raise KsqlStatementException(
                f"STRUCT fields whose names differ only in case are not supported: {t}")


def integer_literal_type(value: int) -> SqlType:
    return INTEGER if INT32_MIN <= value <= INT32_MAX else BIGINT


def decimal_literal_type(text: str) -> SqlType:
    """A decimal literal's type, as ksqlDB types its value: `1.50` is DECIMAL(3, 2), `0.05`
    DECIMAL(3, 2) (below 1, one digit more than the scale)."""
    return decimal_type_of_value(Decimal(text))


def as_decimal(t: SqlType) -> SqlType:
    """INTEGER and BIGINT widen to DECIMAL(10, 0) and DECIMAL(19, 0)."""
    return to_decimal_type(t)


def decimal_arithmetic_type(op: str, left: SqlType, right: SqlType) -> SqlType:
    """ksqlDB's (SQL Server's) precision and scale of a DECIMAL operation."""
    p1, s1 = left.precision, left.scale
    p2, s2 = right.precision, right.scale
    if op in "+-":
        scale = max(s1, s2)
        precision = max(p1 - s1, p2 - s2) + scale + 1
    elif op == "*":
        precision, scale = p1 + p2 + 1, s1 + s2
    elif op == "/":
        scale = max(6, s1 + p2 + 1)
        precision = p1 - s1 + s2 + scale
    else:  # %
        scale = max(s1, s2)
        precision = min(p1 - s1, p2 - s2) + scale
    return decimal(precision, scale)


def arithmetic_type(op: str, left: SqlType, right: SqlType) -> Optional[SqlType]:
    """The result type of `left op right` for + - * / %, or None when ksqlDB rejects the pair."""
    if not (is_numeric(left) and is_numeric(right)):
        return None
    rank = max(NUMERIC_RANK[left.base], NUMERIC_RANK[right.base])
    if rank == NUMERIC_RANK["DOUBLE"]:
        return DOUBLE
    if rank == NUMERIC_RANK["DECIMAL"]:
        return decimal_arithmetic_type(op, as_decimal(left), as_decimal(right))
    return BIGINT if rank == NUMERIC_RANK["BIGINT"] else INTEGER


def is_null_type(t: Optional[SqlType]) -> bool:
    return t is None


EQUALITY_OPERATORS = ("=", "<>", "IS DISTINCT FROM", "IS NOT DISTINCT FROM")


def comparable(left: SqlType, right: SqlType, op: str) -> bool:
    """Whether ksqlDB compares `left op right` (its ComparisonUtil, by the left operand's type):
    numbers with numbers; STRING with STRING or a temporal type; BOOLEAN, ARRAY, MAP and STRUCT
    with the same base type by equality only; TIME with TIME or STRING; DATE and TIMESTAMP with
    DATE, TIMESTAMP or STRING; BYTES with BYTES."""
    l, r = left.base, right.base
    if is_numeric(left):
        return is_numeric(right)
    if l == "STRING":
        return r in ("STRING", "DATE", "TIME", "TIMESTAMP")
    if l in ("BOOLEAN", "ARRAY", "MAP", "STRUCT"):
        return r == l and op in EQUALITY_OPERATORS
    if l == "TIME":
        return r in ("TIME", "STRING")
    if l in ("DATE", "TIMESTAMP"):
        return r in ("DATE", "TIMESTAMP", "STRING")
    return l == r


def widest_numeric(types: list[SqlType]) -> SqlType:
    """The numeric type every one of `types` converts to (INT -> BIGINT -> DECIMAL -> DOUBLE,
    a DECIMAL wide enough for all): the implicit coercion of `coercion`, folded."""
    result = types[0]
    for t in types[1:]:
        result = common_of_two(result, t)
    return result
