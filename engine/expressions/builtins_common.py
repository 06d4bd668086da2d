"""Helpers shared by the `builtins_*` function modules: literal arguments, runtime failures.

A function that fails on a record (ksqlDB logs it to the processing log and yields NULL) is a
SQL expression that raises inside the projection's TRY(). DuckDB's `error()` is volatile, which
TRY rejects, so a failure is a cast that cannot succeed.
"""
from __future__ import annotations

import re
from typing import Optional

from pyksqlite.common.duck import quote_string
from pyksqlite.common.errors import KsqlStatementException

_STRING_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def fail_sql(message: str, duck_type: str = "VARCHAR") -> str:
    """An expression that fails when evaluated (the record's value becomes NULL)."""
    return f"CAST(CAST({quote_string(message)} AS INTEGER) AS {duck_type})"


def literal_string(sql: str) -> Optional[str]:
    """The text of a compiled string literal, or None when `sql` is not one."""
    match = _STRING_LITERAL.fullmatch(sql.strip())
    return match.group(1).replace("''", "'") if match else None


def required_literal(sql: str, function: str, what: str) -> str:
    text = literal_string(sql)
    if text is None:
        raise KsqlStatementException(f"Function '{function}' needs a literal {what} in ksqlite.")
    return text
