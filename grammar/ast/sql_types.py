"""ksqlDB's SQL types as written in statements (shared with the engine, which adds the Arrow
mapping and coercion in `pyksqlite.common.types` and `pyksqlite.expressions.coercion`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class SqlType:
    """A ksqlDB SQL type.

    `base` is one of BOOLEAN, INTEGER, BIGINT, DOUBLE, DECIMAL, STRING, BYTES, DATE, TIME,
    TIMESTAMP, ARRAY, MAP, STRUCT, or a custom type name (CREATE TYPE) not yet resolved.
    `precision`/`scale` are set for DECIMAL; `element` for ARRAY; `key`/`value` for MAP;
    `fields` for STRUCT (an ordered tuple of (name, type)).
    """
    base: str
    precision: Optional[int] = None
    scale: Optional[int] = None
    element: Optional["SqlType"] = None
    key: Optional["SqlType"] = None
    value: Optional["SqlType"] = None
    fields: Optional[tuple[tuple[str, "SqlType"], ...]] = None

    def __str__(self) -> str:
        if self.base == "DECIMAL":
            return f"DECIMAL({self.precision}, {self.scale})"
        if self.base == "ARRAY":
            return f"ARRAY<{self.element}>"
        if self.base == "MAP":
            return f"MAP<{self.key}, {self.value}>"
        if self.base == "STRUCT":
            inner = ", ".join(f"`{name}` {typ}" for name, typ in self.fields or ())
            return f"STRUCT<{inner}>"
        return self.base


BOOLEAN = SqlType("BOOLEAN")
INTEGER = SqlType("INTEGER")
BIGINT = SqlType("BIGINT")
DOUBLE = SqlType("DOUBLE")
STRING = SqlType("STRING")
BYTES = SqlType("BYTES")
DATE = SqlType("DATE")
TIME = SqlType("TIME")
TIMESTAMP = SqlType("TIMESTAMP")


def decimal(precision: int, scale: int) -> SqlType:
    return SqlType("DECIMAL", precision=precision, scale=scale)


def decimal_parameter_error(precision: int, scale: int) -> Optional[str]:
    """ksqlDB's check of a declared DECIMAL's parameters (its DecimalUtil.validateParameters),
    as the message it fails with, or None when DECIMAL(precision, scale) is valid. ksqlDB sets
    no upper bound on the precision (its tests declare DECIMAL(50, 30))."""
    shown = f"DECIMAL({precision},{scale})"
    if precision < 1:
        return f"DECIMAL precision must be >= 1: {shown}"
    if scale < 0:
        return f"DECIMAL scale must be >= 0: {shown}"
    if precision < scale:
        return f"DECIMAL precision must be >= scale: {shown}"
    return None


def array(element: SqlType) -> SqlType:
    return SqlType("ARRAY", element=element)


def map_of(key: SqlType, value: SqlType) -> SqlType:
    return SqlType("MAP", key=key, value=value)


def struct(fields: list[tuple[str, SqlType]] | tuple[tuple[str, SqlType], ...]) -> SqlType:
    return SqlType("STRUCT", fields=tuple(fields))
