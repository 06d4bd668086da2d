"""What compiling an expression gives (`TypedSql`), and what a function compiled by its own
handler (a special form: TRANSFORM, GREATEST, ...) may ask of the compiler that calls it.

The compiler hands itself to those handlers as an argument, so the function library never
imports the compiler: the registry sits below the compiler, the compiler above both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

from pyksqlite.expressions.scope import Scope
from pyksqlite.grammar import ast as a
from pyksqlite.grammar.ast import SqlType


@dataclass(frozen=True)
class TypedSql:
    """DuckDB SQL text and the ksqlDB type of its value (None only for an untyped NULL)."""
    sql: str
    type: Optional[SqlType]


class SpecialFormCompiler(Protocol):
    """The compiler as a special form's handler sees it: `handler(compiler, call)`."""
    scope: Scope
    functions: object               # the FunctionRegistry calls resolve against
    uses_volatile: bool

    def compile(self, expr: a.Expr) -> TypedSql:
        """A sub-expression, compiled in this compiler's scope."""

    def compile_lambda(self, expr: a.Lambda, param_types: list[SqlType]) -> TypedSql:
        """A lambda argument whose parameters have these types."""

    def compile_in(self, scope: Scope, expr: a.Expr) -> TypedSql:
        """`expr` compiled in another scope (a lambda body's), with the same functions."""
