"""A join relation as data: what the planner decided and the join operators run.

The planner (`pyksqlite.planner.joins`) checks a join as ksqlDB does and fills a `JoinSpec`; its
`JoinRelation` is this data with the planning behaviour on top (naming, the key of a result,
EXPLAIN). The operators (`join_driver` and one operator per JOIN clause) read only this module,
so they never import the planner.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from pyksqlite.catalog.metastore import DataSource, WindowInfo
from pyksqlite.grammar import ast
from pyksqlite.operators.base import BatchLayout, Field

JOIN_KEY_COL = "__jkey"          # the result's join key (the value of ROWKEY or the key column)
STREAM_STREAM, STREAM_TABLE, TABLE_TABLE, FOREIGN_KEY = "stream-stream", "stream-table", "table-table", "foreign-key"
LEGACY_GRACE_MS = 24 * 3600 * 1000


@dataclass
class Leaf:
    """One source of the join and the internal column names of its columns."""
    index: int
    source: DataSource
    alias: str
    fields: list[Field]           # user columns, sql names s<i>_<k0|v0..>

    @property
    def rowtime_col(self) -> str:
        return f"s{self.index}_rt"

    def column_names(self) -> set[str]:
        return {f.name for f in self.fields}


@dataclass
class JoinStepSpec:
    """One JOIN clause: the tree so far (left) joined with one source (right)."""
    kind: str                     # INNER | LEFT | RIGHT | FULL
    join_type: str                # stream-stream | stream-table | table-table | foreign-key
    right: Leaf
    left_leaves: list[Leaf]
    left_sql: str                 # the join expression over the left tree's columns
    right_sql: str
    left_column: Optional[str]    # the internal column when the expression is a plain column
    right_column: Optional[str]
    key_type: object
    before_ms: int = 0
    after_ms: int = 0
    grace_ms: Optional[int] = None  # None: no GRACE PERIOD given (legacy eager outer results)
    text: str = ""
    # Two windowed sources match on key and window: the window bounds that are part of the key
    # (the start for time windows, start and end for session windows), per side.
    left_window: tuple[str, ...] = ()
    right_window: tuple[str, ...] = ()

    @property
    def retention_ms(self) -> int:
        grace = self.grace_ms if self.grace_ms is not None else max(
            LEGACY_GRACE_MS - self.before_ms - self.after_ms, 0)
        return self.before_ms + self.after_ms + grace


@dataclass(frozen=True)
class KeyRef:
    """A source column named in a join condition: `alias.name`."""
    alias: str
    name: str

    def text(self) -> str:
        return f"{self.alias}.{self.name}"

    def schema_name(self) -> str:
        return f"{self.alias}_{self.name}"


@dataclass
class JoinSpec:
    """Several sources joined left to right."""
    leaves: list[Leaf]
    steps: list[JoinStepSpec]
    layout: BatchLayout                   # the result's columns (the planner's JoinLayout)
    result_kind: str
    synthetic_key: Optional[str]          # ROWKEY / ROWKEY_n, or None
    key_ref: Optional[KeyRef]             # the key column when not synthetic (and not a FK join)
    viable_keys: list[KeyRef] = field(default_factory=list)
    foreign_key_columns: list[KeyRef] = field(default_factory=list)  # FK join: the left table's key
    key_type: object = None
    join_columns: frozenset = frozenset()     # column names the ON conditions read
    needed_columns: Optional[frozenset] = None  # decode only these value columns (None: all)
    where: Optional[ast.Expr] = None          # the query's WHERE, for a table result's change filter

    @property
    def window(self) -> Optional[WindowInfo]:
        return self.leaves[0].source.window

    def field_of(self, ref: KeyRef) -> Field:
        """The field of the source column `ref` names."""
        leaf = next(leaf for leaf in self.leaves if leaf.alias == ref.alias)
        return next(f for f in leaf.fields if f.name == ref.name)
