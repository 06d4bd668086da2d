"""DuckDB lambdas in generated SQL: parameter names no user column can collide with, and a value
bound to one so that an expression used several times is evaluated once.
"""
from __future__ import annotations

from itertools import count

_fresh_names = count()


def fresh_lambda_param() -> str:
    """A lambda parameter name that cannot collide with user columns or outer lambdas."""
    return f"__v{next(_fresh_names)}"


def bind_once(sql: str, body_of) -> str:
    """`body_of(name)` evaluated with `name` bound to `sql`, so `sql` is evaluated once."""
    name = fresh_lambda_param()
    return f"list_transform([{sql}], lambda {name}: {body_of(name)})[1]"
