"""The operator interface and the layout of the batches that flow between operators.

Every physical operator consumes and produces Arrow tables. Columns inside a batch have internal
positional names (`k0`, `v1`, `__rowtime`...), never user names: DuckDB matches identifiers
case-insensitively, while ksqlDB's quoted names are case-sensitive. A `BatchLayout` maps the user
names to those internal names and is what the expression compiler resolves columns against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Protocol

import pyarrow as pa

from pyksqlite.expressions.scope import ColumnBinding, Scope
from pyksqlite.common.schema import KEY, Column
from pyksqlite.common.types import BIGINT, INTEGER, SqlType

if TYPE_CHECKING:
    from pyksqlite.state.snapshot import Snapshot

ROWTIME_COL = "__rowtime"
PARTITION_COL = "__partition"
OFFSET_COL = "__offset"
TOMBSTONE_COL = "__tombstone"
ENCODED_VALUE_COL = "__value"  # the value already encoded for the sink, when fused into a Select
SUSPECT_COL = "__suspect"  # a row the fast decode path could not vouch for
HEADERS_COL = "__headers"  # the input record's headers, forwarded to outputs as Kafka Streams does


@dataclass(frozen=True)
class Field:
    """A user-visible column of a batch and the internal column that holds it."""
    name: str
    type: SqlType
    sql_name: str
    namespace: str = "VALUE"
    source: Optional[str] = None  # the source alias the column belongs to (for joins)


@dataclass(frozen=True)
class BatchLayout:
    """The user-visible columns of a batch. Pseudo-columns (ROWTIME...) are added to scopes."""
    fields: tuple[Field, ...]
    has_tombstones: bool = False

    def scope(self, pseudo: bool = True) -> Scope:
        columns: dict[str, ColumnBinding] = {}
        qualified: dict[tuple[str, str], ColumnBinding] = {}
        for f in self.fields:
            binding = ColumnBinding(f.sql_name, f.type)
            columns[f.name] = binding
            if f.source:
                qualified[(f.source, f.name)] = binding
        if pseudo:
            for name, sql_name, typ in PSEUDO_BINDINGS:
                columns.setdefault(name, ColumnBinding(sql_name, typ))
        return Scope(columns, qualified)

    @property
    def key_fields(self) -> list[Field]:
        return [f for f in self.fields if f.namespace == KEY]

    @property
    def value_fields(self) -> list[Field]:
        return [f for f in self.fields if f.namespace != KEY]

    def find(self, name: str) -> Optional[Field]:
        return next((f for f in self.fields if f.name == name), None)


PSEUDO_BINDINGS = (("ROWTIME", ROWTIME_COL, BIGINT), ("ROWPARTITION", PARTITION_COL, INTEGER),
                   ("ROWOFFSET", OFFSET_COL, BIGINT))


def layout_for_columns(columns: list[Column], source: Optional[str] = None) -> BatchLayout:
    """Internal names for a source's columns: key columns k0.., the others v0.. in order."""
    fields, keys, values = [], 0, 0
    for column in columns:
        if column.namespace == KEY:
            sql_name, keys = f"k{keys}", keys + 1
        else:
            sql_name, values = f"v{values}", values + 1
        fields.append(Field(column.name, column.type, sql_name, column.namespace, source))
    return BatchLayout(tuple(fields))


class Operator(Protocol):
    """One step of a physical plan."""

    def process(self, batch: pa.Table) -> pa.Table:
        """Transform one batch; may return an empty table."""

    def advance_time(self, stream_time_ms: int) -> Optional[pa.Table]:
        """Stream time moved forward: emit what that closes (windows) and expire state."""

    def snapshot(self) -> Optional["Snapshot"]:
        """The operator's state as data (engine.state.snapshot: named, typed sections; never
        pickled), to restore after a restart (None: stateless)."""

    def restore(self, state: "Snapshot") -> None:
        """Take the state back, checking each section's kind (SnapshotError if it does not fit)."""

    def describe(self) -> str:
        """One line for EXPLAIN."""


class StatelessOperator:
    """Base for operators without state or time."""

    def advance_time(self, stream_time_ms: int) -> Optional[pa.Table]:
        return None

    def snapshot(self) -> Optional["Snapshot"]:
        return None

    def restore(self, state: "Snapshot") -> None:
        pass

# Internal names of the window bounds of windowed keys.
WINDOWSTART_COL, WINDOWEND_COL = "__wstart", "__wend"
WINDOW_BOUNDS = (("WINDOWSTART", WINDOWSTART_COL), ("WINDOWEND", WINDOWEND_COL))
