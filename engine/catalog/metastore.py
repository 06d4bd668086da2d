"""The metastore: streams, tables, custom types and persistent queries known to the engine.

The catalog holds only metadata; it is rebuilt on start by replaying the command log (see
`pyksqlite.catalog.command_topic`), as ksqlDB rebuilds its metastore from the command topic.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.common.schema import LogicalSchema
from pyksqlite.serde.api import FormatInfo
from pyksqlite.common.types import SqlType

STREAM, TABLE = "STREAM", "TABLE"


@dataclass(frozen=True)
class WindowInfo:
    """How a source's keys are windowed: TUMBLING | HOPPING | SESSION, and the size for time windows."""
    kind: str
    size_ms: Optional[int] = None

    @property
    def is_session(self) -> bool:
        return self.kind == "SESSION"


@dataclass
class DataSource:
    """A stream or table: its schema, where its records live and how they are encoded."""
    name: str
    kind: str                       # STREAM | TABLE
    schema: LogicalSchema
    topic: str
    key_format: FormatInfo
    value_format: FormatInfo
    timestamp_column: Optional[str] = None
    timestamp_format: Optional[str] = None
    window: Optional[WindowInfo] = None
    is_source: bool = False         # CREATE SOURCE STREAM/TABLE: read-only
    statement_text: str = ""
    properties: dict = field(default_factory=dict)

    @property
    def is_table(self) -> bool:
        return self.kind == TABLE


@dataclass
class PersistentQuery:
    """A running CSAS/CTAS/INSERT INTO query, as listed by SHOW QUERIES."""
    query_id: str
    statement_text: str
    sink: str
    sources: list[str]
    state: str = "RUNNING"


class Catalog:
    """Sources, types and queries by name. Names are case-sensitive (the parser upper-cases
    unquoted identifiers)."""

    def __init__(self) -> None:
        self.sources: dict[str, DataSource] = {}
        self.types: dict[str, SqlType] = {}
        self.queries: dict[str, PersistentQuery] = {}

    # --- sources ---
    def get_source(self, name: str) -> Optional[DataSource]:
        return self.sources.get(name)

    def require_source(self, name: str) -> DataSource:
        source = self.sources.get(name)
        if source is None:
            raise KsqlStatementException(f"{name} does not exist.")
        return source

    def add_source(self, source: DataSource) -> None:
        self.sources[source.name] = source

    def remove_source(self, name: str) -> None:
        self.sources.pop(name, None)

    def sources_on_topic(self, topic: str) -> list[DataSource]:
        return [s for s in self.sources.values() if s.topic == topic]

    # --- queries ---
    def queries_reading(self, name: str) -> list[PersistentQuery]:
        return [q for q in self.queries.values() if name in q.sources]

    def queries_writing(self, name: str) -> list[PersistentQuery]:
        return [q for q in self.queries.values() if q.sink == name]

    # --- types ---
    def resolve_type(self, t: SqlType) -> SqlType:
        """Replace custom type names (CREATE TYPE) inside `t` by their definitions."""
        if t.base in self.types:
            return self.types[t.base]
        if t.base == "ARRAY":
            return SqlType("ARRAY", element=self.resolve_type(t.element))
        if t.base == "MAP":
            return SqlType("MAP", key=self.resolve_type(t.key), value=self.resolve_type(t.value))
        if t.base == "STRUCT":
            return SqlType("STRUCT", fields=tuple((n, self.resolve_type(ft)) for n, ft in t.fields))
        if t.base not in _BUILTIN_BASES:
            raise KsqlStatementException(f"Unknown type: {t.base}")
        return t


_BUILTIN_BASES = {"BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "DECIMAL", "STRING", "BYTES", "DATE",
                  "TIME", "TIMESTAMP", "ARRAY", "MAP", "STRUCT"}
