"""The typed AST of ksqlDB's SQL: one frozen dataclass per construct.

The parser (`pyksqlite.grammar.parser`) builds these nodes from text; the engine's planner reads them and
never mutates them. Every node is immutable and hashable, so a planner can use expressions as
dictionary keys (for example to find a GROUP BY expression again in the projection).

Naming follows ksqlDB: unquoted identifiers are upper-cased by the parser, quoted ones keep their
case, so a name in the AST is already the name the catalog uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


# --------------------------------------------------------------------------------------------
# Source positions
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Position:
    """1-based line and column of a node's first token in the statement text."""
    line: int
    column: int


# --------------------------------------------------------------------------------------------
# Types (shared with the engine, which adds Arrow mapping and coercion in engine/common/types.py)
# --------------------------------------------------------------------------------------------

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


def array(element: SqlType) -> SqlType:
    return SqlType("ARRAY", element=element)


def map_of(key: SqlType, value: SqlType) -> SqlType:
    return SqlType("MAP", key=key, value=value)


def struct(fields: list[tuple[str, SqlType]] | tuple[tuple[str, SqlType], ...]) -> SqlType:
    return SqlType("STRUCT", fields=tuple(fields))


# --------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expr:
    """Base class of expression nodes."""


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


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class SelectItem:
    """Base class of the items of a SELECT list."""


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


# --------------------------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Statement:
    """Base class of statements. `text` is the statement's own text (without the trailing `;`)."""


# A WITH-property value as written: str, int, float, bool or None. Keys are upper-cased.
PropertyValue = Union[str, int, float, bool, None]


@dataclass(frozen=True)
class ColumnDef:
    """A column in CREATE STREAM/TABLE. `constraint` is None, 'KEY', 'PRIMARY KEY', 'HEADERS'
    or 'HEADER' (then `header_key` holds the header's key)."""
    name: str
    type: SqlType
    constraint: Optional[str] = None
    header_key: Optional[str] = None


@dataclass(frozen=True)
class CreateSource(Statement):
    """CREATE [OR REPLACE] [SOURCE] STREAM|TABLE [IF NOT EXISTS] name (cols) WITH (...)."""
    kind: str  # STREAM | TABLE
    name: str
    columns: tuple[ColumnDef, ...]
    properties: tuple[tuple[str, PropertyValue], ...] = ()
    or_replace: bool = False
    if_not_exists: bool = False
    is_source: bool = False
    text: str = field(default="", compare=False)

    def props(self) -> dict[str, PropertyValue]:
        return dict(self.properties)


@dataclass(frozen=True)
class CreateAsSelect(Statement):
    """CREATE [OR REPLACE] STREAM|TABLE [IF NOT EXISTS] name [WITH (...)] AS SELECT ..."""
    kind: str  # STREAM | TABLE
    name: str
    query: Query
    properties: tuple[tuple[str, PropertyValue], ...] = ()
    or_replace: bool = False
    if_not_exists: bool = False
    text: str = field(default="", compare=False)

    def props(self) -> dict[str, PropertyValue]:
        return dict(self.properties)


@dataclass(frozen=True)
class InsertInto(Statement):
    """INSERT INTO target [WITH (QUERY_ID='...')] SELECT ..."""
    target: str
    query: Query
    properties: tuple[tuple[str, PropertyValue], ...] = ()
    text: str = field(default="", compare=False)

    def props(self) -> dict[str, PropertyValue]:
        return dict(self.properties)


@dataclass(frozen=True)
class InsertValues(Statement):
    """INSERT INTO target [(col, ...)] VALUES (expr, ...)."""
    target: str
    columns: Optional[tuple[str, ...]]
    values: tuple[Expr, ...]
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class QueryStatement(Statement):
    """A bare SELECT: a push query when `query.emit` is set, else a pull query."""
    query: Query
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class DropSource(Statement):
    kind: str  # STREAM | TABLE
    name: str
    if_exists: bool = False
    delete_topic: bool = False
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class CreateType(Statement):
    name: str
    type: SqlType
    if_not_exists: bool = False
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class DropType(Statement):
    name: str
    if_exists: bool = False
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class AlterSource(Statement):
    """ALTER STREAM|TABLE name ADD [COLUMN] c type, ..."""
    kind: str
    name: str
    columns: tuple[ColumnDef, ...]
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class Show(Statement):
    """SHOW|LIST what: STREAMS, TABLES, TOPICS, QUERIES, PROPERTIES, FUNCTIONS, TYPES, VARIABLES."""
    what: str
    extended: bool = False
    all: bool = False  # SHOW ALL TOPICS
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class Describe(Statement):
    """DESCRIBE name [EXTENDED]; DESCRIBE STREAMS|TABLES [EXTENDED] has name None and `what` set."""
    name: Optional[str]
    extended: bool = False
    what: Optional[str] = None  # STREAMS | TABLES for the plural forms
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class DescribeFunction(Statement):
    name: str
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class Explain(Statement):
    """EXPLAIN <statement> or EXPLAIN <query id>: exactly one of the two is set."""
    statement: Optional[Statement] = None
    query_id: Optional[str] = None
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class Terminate(Statement):
    """TERMINATE query_id | ALL (query_id None means ALL)."""
    query_id: Optional[str]
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class PauseResume(Statement):
    """PAUSE|RESUME query_id | ALL."""
    action: str  # PAUSE | RESUME
    query_id: Optional[str]
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class Print(Statement):
    """PRINT topic [FROM BEGINNING] [INTERVAL|SAMPLE n] [LIMIT n]. The topic keeps its case when
    quoted or given as a string; unquoted it is kept as written (topics are case-sensitive)."""
    topic: str
    from_beginning: bool = False
    interval: Optional[int] = None
    limit: Optional[int] = None
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class SetProperty(Statement):
    name: str
    value: str
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class UnsetProperty(Statement):
    name: str
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class DefineVariable(Statement):
    name: str
    value: str
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class UndefineVariable(Statement):
    name: str
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class RunScript(Statement):
    path: str
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class AssertValues(Statement):
    """Test-only: ASSERT VALUES src [(cols)] VALUES (...)."""
    source: str
    columns: Optional[tuple[str, ...]]
    values: tuple[Expr, ...]
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class AssertNullValues(Statement):
    """Test-only: ASSERT NULL VALUES src [(cols)] KEY (...): a tombstone."""
    source: str
    columns: Optional[tuple[str, ...]]
    keys: tuple[Expr, ...]
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class AssertSource(Statement):
    """Test-only: ASSERT STREAM|TABLE name (elements) [WITH (...)]."""
    kind: str
    name: str
    columns: tuple[ColumnDef, ...]
    properties: tuple[tuple[str, PropertyValue], ...] = ()
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class AssertTopic(Statement):
    """ASSERT [NOT EXISTS] TOPIC name [WITH (...)] [TIMEOUT n unit]."""
    topic: str
    exists: bool = True
    properties: tuple[tuple[str, PropertyValue], ...] = ()
    timeout: Optional[Duration] = None
    text: str = field(default="", compare=False)
