"""ksqlDB's typing rules for expressions: literal types, arithmetic result types, comparability,
common super types, and the DuckDB spelling of each SQL type.

Pure functions of `SqlType`s; nothing here builds SQL for values.
"""
from __future__ import annotations

from typing import Optional

from pyksqlite.common.duck import quote_identifier
from pyksqlite.common.errors import KsqlStatementException
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
    """`1.50` is DECIMAL(3, 2); `0.05` is DECIMAL(3, 2) as Java's BigDecimal counts it."""
    digits = text.lstrip("+-")
    whole, _, fraction = digits.partition(".")
    significant = (whole + fraction).lstrip("0")
    scale = len(fraction)
    return decimal(max(len(significant), scale, 1), scale)


def as_decimal(t: SqlType) -> SqlType:
    """INTEGER and BIGINT widen to DECIMAL(10, 0) and DECIMAL(19, 0)."""
    if t.base == "INTEGER":
        return decimal(10, 0)
    if t.base == "BIGINT":
        return decimal(19, 0)
    return t


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


def comparable(left: SqlType, right: SqlType, op: str) -> bool:
    """Whether ksqlDB can compare `left` and `right` with `op` (an equality or ordering operator)."""
    if is_numeric(left) and is_numeric(right):
        return True
    temporal = {"DATE", "TIME", "TIMESTAMP"}
    if left.base in temporal and right.base in temporal:
        return not ({left.base, right.base} == {"DATE", "TIME"} or
                    {left.base, right.base} == {"TIME", "TIMESTAMP"})
    if left.base in temporal and right.base == "STRING" or right.base in temporal and left.base == "STRING":
        return True
    if left.base != right.base:
        return False
    if left.base in ("ARRAY", "MAP", "STRUCT"):
        return op in ("=", "<>", "IS DISTINCT FROM", "IS NOT DISTINCT FROM") and left == right
    return True


def widest_numeric(types: list[SqlType]) -> SqlType:
    """The numeric type every one of `types` widens to (INT -> BIGINT -> DECIMAL -> DOUBLE)."""
    rank = max(NUMERIC_RANK[t.base] for t in types)
    if rank != NUMERIC_RANK["DECIMAL"]:
        return {0: INTEGER, 1: BIGINT, 3: DOUBLE}[rank]
    decimals = [as_decimal(t) for t in types if t.base != "DOUBLE"]
    scale = max(t.scale for t in decimals)
    integral = max(t.precision - t.scale for t in decimals)
    return decimal(integral + scale, scale)


def can_widen(source: SqlType, target: SqlType) -> bool:
    """Whether ksqlDB implicitly converts `source` to `target` (numeric widening, or structural)."""
    if source == target:
        return True
    if is_numeric(source) and is_numeric(target):
        if target.base == "DECIMAL" and source.base in ("INTEGER", "BIGINT", "DECIMAL"):
            src = as_decimal(source)
            return (src.precision - src.scale <= target.precision - target.scale
                    and src.scale <= target.scale)
        return NUMERIC_RANK[source.base] < NUMERIC_RANK[target.base] and source.base != "DECIMAL" \
            or (source.base == "DECIMAL" and target.base == "DOUBLE")
    if source.base == target.base == "ARRAY":
        return can_widen(source.element, target.element)
    if source.base == target.base == "MAP":
        return can_widen(source.key, target.key) and can_widen(source.value, target.value)
    return False
