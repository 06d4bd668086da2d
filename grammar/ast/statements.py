"""Statement nodes: DDL (CREATE/DROP/ALTER), queries as statements, INSERT, SHOW/DESCRIBE/EXPLAIN,
properties and variables, and the test-only ASSERT statements.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from pyksqlite.grammar.ast.positions import Position, position_field
from pyksqlite.grammar.ast.sql_types import SqlType
from pyksqlite.grammar.ast.expressions import Expr
from pyksqlite.grammar.ast.queries import Duration, Query


@dataclass(frozen=True)
class Statement:
    """Base class of statements. `text` is the statement's own text (without the trailing `;`)."""
    pos: Optional[Position] = position_field()


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
    target_pos: Optional[Position] = position_field()

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
