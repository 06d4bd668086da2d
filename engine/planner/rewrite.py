"""AST helpers for the planner: the columns an expression reads, and ksqlDB's "magic"
timestamp literals.

In a WHERE clause ksqlDB lets a string stand for a point in time when it is compared with
ROWTIME, WINDOWSTART or WINDOWEND: `ROWTIME >= '2018'`, `ROWTIME > '2019-01-01T00:00:00+0445'`.
Partial timestamps are completed with the earliest instant (January, the 1st, midnight, UTC).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Optional

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.grammar import ast

TIME_COLUMNS = ("ROWTIME", "WINDOWSTART", "WINDOWEND")
_TIMESTAMP = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?)?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$")


def convert_timestamp_literals(expr: ast.Expr) -> ast.Expr:
    """`expr` with string literals compared to time columns replaced by epoch milliseconds."""
    if isinstance(expr, ast.Comparison):
        left, right = expr.left, expr.right
        if _is_time_column(left) and isinstance(right, ast.StringLiteral):
            return dataclasses.replace(expr, right=_millis(right))
        if _is_time_column(right) and isinstance(left, ast.StringLiteral):
            return dataclasses.replace(expr, left=_millis(left))
    if isinstance(expr, ast.Between) and _is_time_column(expr.value):
        low = _millis(expr.low) if isinstance(expr.low, ast.StringLiteral) else expr.low
        high = _millis(expr.high) if isinstance(expr.high, ast.StringLiteral) else expr.high
        return dataclasses.replace(expr, low=low, high=high)
    if isinstance(expr, (ast.LogicalBinary,)):
        return dataclasses.replace(expr, left=convert_timestamp_literals(expr.left),
                                   right=convert_timestamp_literals(expr.right))
    if isinstance(expr, ast.Not):
        return dataclasses.replace(expr, operand=convert_timestamp_literals(expr.operand))
    return expr


def _is_time_column(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.ColumnRef) and expr.name in TIME_COLUMNS


def _millis(literal: ast.StringLiteral) -> ast.IntegerLiteral:
    value = parse_partial_timestamp(literal.value)
    if value is None:
        raise KsqlStatementException(f"Failed to parse timestamp '{literal.value}': expected a timestamp "
                                     "in the format yyyy-MM-dd'T'HH:mm:ss.SSS, optionally followed by a time zone")
    return ast.IntegerLiteral(value)


def parse_partial_timestamp(text: str) -> Optional[int]:
    match = _TIMESTAMP.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    # Hour 24 is the next day's midnight, as java.time's lenient parsing reads it.
    next_day = hour is not None and int(hour) == 24 and not (minute or second or fraction)
    try:
        moment = dt.datetime(int(year), int(month or 1), int(day or 1), 0 if next_day else int(hour or 0),
                             int(minute or 0), int(second or 0), int((fraction or "0").ljust(3, "0")) * 1000,
                             tzinfo=_zone(zone))
    except ValueError:
        return None
    return int((moment + dt.timedelta(days=1 if next_day else 0)).timestamp() * 1000)


def _zone(text: Optional[str]) -> dt.timezone:
    if not text or text == "Z":
        return dt.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def referenced_columns(expr) -> set[str]:
    """The names of the columns an expression reads."""
    if isinstance(expr, ast.ColumnRef):
        return {expr.name}
    found: set[str] = set()
    for name in getattr(expr, "__dataclass_fields__", {}):
        child = getattr(expr, name)
        for part in (child if isinstance(child, tuple) else (child,)):
            for item in (part if isinstance(part, tuple) else (part,)):
                if isinstance(item, (ast.Expr, ast.WhenClause)):
                    found |= referenced_columns(item)
    return found
