"""Expression nodes: literals, column references, operators, CASE, casts, function calls,
lambdas and the ARRAY/MAP/STRUCT constructors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pyksqlite.grammar.ast.positions import Position, position_field
from pyksqlite.grammar.ast.sql_types import SqlType


@dataclass(frozen=True)
class Expr:
    """Base class of expression nodes."""
    pos: Optional[Position] = position_field()


@dataclass(frozen=True)
class NullLiteral(Expr):
    pass


@dataclass(frozen=True)
class BooleanLiteral(Expr):
    value: bool


@dataclass(frozen=True)
class IntegerLiteral(Expr):
    """An integer literal: INTEGER when it fits in 32 bits, else BIGINT (as ksqlDB types it)."""
    value: int


@dataclass(frozen=True)
class DecimalLiteral(Expr):
    """A literal with a decimal point and no exponent, e.g. `1.50`: DECIMAL(3, 2). Kept as text."""
    text: str


@dataclass(frozen=True)
class DoubleLiteral(Expr):
    """A literal with an exponent, e.g. `1.5E0`: DOUBLE."""
    value: float


@dataclass(frozen=True)
class StringLiteral(Expr):
    value: str


@dataclass(frozen=True)
class ColumnRef(Expr):
    """A column, optionally qualified by a source name or alias: `col` or `src.col`.

    Inside a lambda body, a reference to a lambda parameter is also a ColumnRef (source None);
    the expression compiler resolves it against the lambda's parameters first.
    """
    name: str
    source: Optional[str] = None


@dataclass(frozen=True)
class Dereference(Expr):
    """Struct field access: `base->field`."""
    base: Expr
    field: str


@dataclass(frozen=True)
class Subscript(Expr):
    """`base[index]`: 1-based array index (negative counts from the end) or map key."""
    base: Expr
    index: Expr


@dataclass(frozen=True)
class ArithmeticUnary(Expr):
    """`-x` or `+x`."""
    op: str
    operand: Expr


@dataclass(frozen=True)
class ArithmeticBinary(Expr):
    """`left op right` with op one of + - * / % and `||` (string/bytes concatenation)."""
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Comparison(Expr):
    """`left op right` with op one of = <> < <= > >= and IS DISTINCT FROM / IS NOT DISTINCT FROM.

    `!=` is normalized to `<>` by the parser.
    """
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class LogicalBinary(Expr):
    """`left AND right` or `left OR right`."""
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True)
class IsNull(Expr):
    """`operand IS NULL` or, when negated, `operand IS NOT NULL`."""
    operand: Expr
    negated: bool = False


@dataclass(frozen=True)
class Between(Expr):
    value: Expr
    low: Expr
    high: Expr
    negated: bool = False


@dataclass(frozen=True)
class InList(Expr):
    value: Expr
    items: tuple[Expr, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like(Expr):
    value: Expr
    pattern: Expr
    escape: Optional[str] = None
    negated: bool = False


@dataclass(frozen=True)
class Cast(Expr):
    operand: Expr
    type: SqlType


@dataclass(frozen=True)
class WhenClause:
    condition: Expr
    result: Expr


@dataclass(frozen=True)
class SearchedCase(Expr):
    """`CASE WHEN c THEN r ... [ELSE d] END`."""
    whens: tuple[WhenClause, ...]
    default: Optional[Expr] = None


@dataclass(frozen=True)
class SimpleCase(Expr):
    """`CASE operand WHEN v THEN r ... [ELSE d] END`."""
    operand: Expr
    whens: tuple[WhenClause, ...]
    default: Optional[Expr] = None


@dataclass(frozen=True)
class TimeUnitArg(Expr):
    """A bare time unit passed as a function argument, e.g. `SECONDS` in TIMESTAMPADD(SECONDS, 5, ts).

    `unit` is normalized to the singular upper-case form: MILLISECOND, SECOND, MINUTE, HOUR, DAY
    (also WEEK, MONTH, YEAR ... if written; validity is the function's business).
    """
    unit: str


@dataclass(frozen=True)
class FunctionCall(Expr):
    """`NAME(args)`; `COUNT(*)` has star=True and no args. Names are upper-cased."""
    name: str
    args: tuple[Expr, ...] = ()
    star: bool = False
    distinct: bool = False


@dataclass(frozen=True)
class Lambda(Expr):
    """`x => body` or `(x, y) => body`. Parameter names are upper-cased like identifiers."""
    params: tuple[str, ...]
    body: Expr


@dataclass(frozen=True)
class ArrayConstructor(Expr):
    """`ARRAY[a, b, ...]`."""
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class MapConstructor(Expr):
    """`MAP(k := v, ...)`."""
    entries: tuple[tuple[Expr, Expr], ...]


@dataclass(frozen=True)
class StructConstructor(Expr):
    """`STRUCT(name := value, ...)`. Field names follow identifier rules (upper-cased unless quoted)."""
    fields: tuple[tuple[str, Expr], ...]
