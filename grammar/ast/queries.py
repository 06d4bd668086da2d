"""The parts of a SELECT: the select list, FROM and JOINs (with WITHIN), WINDOW, and the query
itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pyksqlite.grammar.ast.expressions import Expr
from pyksqlite.grammar.ast.positions import Position, position_field


@dataclass(frozen=True)
class Duration:
    """A time span as written (`10 SECONDS`), with its value in milliseconds."""
    value: int
    unit: str  # normalized singular: MILLISECOND, SECOND, MINUTE, HOUR, DAY

    @property
    def millis(self) -> int:
        factor = {"MILLISECOND": 1, "SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000,
                  "DAY": 86_400_000}[self.unit]
        return self.value * factor

    def __str__(self) -> str:
        return f"{self.value} {self.unit}S"


@dataclass(frozen=True)
class WindowSpec:
    """`WINDOW TUMBLING (SIZE ...)`, `HOPPING (SIZE ..., ADVANCE BY ...)` or `SESSION (gap)`."""
    kind: str  # TUMBLING | HOPPING | SESSION
    size: Optional[Duration] = None      # TUMBLING/HOPPING
    advance: Optional[Duration] = None   # HOPPING
    gap: Optional[Duration] = None       # SESSION
    retention: Optional[Duration] = None
    grace: Optional[Duration] = None
    pos: Optional[Position] = position_field()


@dataclass(frozen=True)
class SelectItem:
    """Base class of the items of a SELECT list."""
    pos: Optional[Position] = position_field()


@dataclass(frozen=True)
class SelectExpr(SelectItem):
    expr: Expr
    alias: Optional[str] = None


@dataclass(frozen=True)
class SelectAll(SelectItem):
    """`*` or `source.*`."""
    source: Optional[str] = None


@dataclass(frozen=True)
class SelectStructAll(SelectItem):
    """`expr->*`: every field of a struct as its own column."""
    expr: Expr


@dataclass(frozen=True)
class SourceRef:
    """A named source in FROM or JOIN, with an optional alias."""
    name: str
    alias: Optional[str] = None
    pos: Optional[Position] = position_field()

    @property
    def effective_name(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class WithinSpec:
    """`WITHIN n unit` (before == after) or `WITHIN (before, after)`, with optional GRACE PERIOD."""
    before: Duration
    after: Duration
    grace: Optional[Duration] = None


@dataclass(frozen=True)
class JoinClause:
    kind: str  # INNER | LEFT | RIGHT | FULL
    source: SourceRef
    on: Expr
    within: Optional[WithinSpec] = None
    pos: Optional[Position] = position_field()


@dataclass(frozen=True)
class Query:
    """A SELECT. `emit` is None (a pull query when not inside C*AS), 'CHANGES' or 'FINAL'."""
    select: tuple[SelectItem, ...]
    from_: SourceRef
    joins: tuple[JoinClause, ...] = ()
    window: Optional[WindowSpec] = None
    where: Optional[Expr] = None
    group_by: tuple[Expr, ...] = ()
    partition_by: tuple[Expr, ...] = ()
    having: Optional[Expr] = None
    emit: Optional[str] = None
    limit: Optional[int] = None
