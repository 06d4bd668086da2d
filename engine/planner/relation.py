"""Relations: where a query's input rows come from (FROM and its JOINs).

A relation plan knows the columns it exposes (`layout`, the scope expressions are resolved in),
the topics it reads, and whether its result is a stream or a table. `build()` gives the physical
side: `process(records)` turns a batch of raw log records (from any of its topics) into rows of
that layout. A single source is `SourceRelation`; joins (`pyksqlite.planner.joins`) are relations
too, so the projection and aggregation on top do not care which they read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

import pyarrow as pa

from pyksqlite.catalog.metastore import STREAM, TABLE, Catalog, DataSource, WindowInfo
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.operators.base import BatchLayout, Operator
from pyksqlite.operators.source import SourceDecode, source_layout
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.common.schema import Column
from pyksqlite.grammar import ast


class RelationOperators(Protocol):
    """The physical side of a relation."""

    def process(self, records: pa.Table | pa.RecordBatch) -> pa.Table:
        """Raw records (log CONSUME_SCHEMA, any of the relation's topics) to rows of its layout."""

    def prepare(self, records: pa.Table) -> list[tuple[int, str, pa.Table]]:
        """The decoding alone (stateless): (tag, topic, decoded rows) per kind of rows."""

    def process_runs(self, runs: list[tuple[int, pa.Table]]) -> pa.Table:
        """Prepared rows, as runs of one tag in processing order, to rows of its layout."""

    def operators(self) -> list[Operator]:
        """Its operators, first to last (for EXPLAIN and state snapshots)."""


class RelationPlan(Protocol):
    layout: BatchLayout           # every column visible to the query, with pseudo-columns in scope()
    result_kind: str              # STREAM | TABLE
    sources: list[DataSource]     # every source read, left to right

    @property
    def topics(self) -> list[str]: ...

    @property
    def key_columns(self) -> list[Column]:
        """The relation's key (for a join, the join key) as it would be named in a result."""

    @property
    def window(self) -> Optional[WindowInfo]: ...

    def build(self, processing_log: ProcessingLog, query_id: Optional[str]) -> RelationOperators: ...

    def explain(self) -> list[str]: ...


@dataclass
class SourceRelation:
    """One stream or table."""
    source: DataSource
    alias: str
    layout: BatchLayout
    keep_null_values: bool = False  # a stream projection passes null-value records on
    needed_columns: Optional[frozenset[str]] = None  # decode only these (None: every column)

    def keeping_null_values(self) -> "SourceRelation":
        """This relation, passing a stream's null-value records on as tombstone rows."""
        if self.source.is_table:
            return self
        return SourceRelation(self.source, self.alias, BatchLayout(self.layout.fields, True), True,
                              self.needed_columns)

    def reading_only(self, columns: set[str]) -> "SourceRelation":
        """This relation, decoding only `columns` of the value (the others read as NULL)."""
        return SourceRelation(self.source, self.alias, self.layout, self.keep_null_values,
                              frozenset(columns))

    @property
    def result_kind(self) -> str:
        return TABLE if self.source.is_table else STREAM

    @property
    def sources(self) -> list[DataSource]:
        return [self.source]

    @property
    def topics(self) -> list[str]:
        return [self.source.topic]

    @property
    def key_columns(self) -> list[Column]:
        return list(self.source.schema.key_columns)

    @property
    def window(self) -> Optional[WindowInfo]:
        return self.source.window

    def build(self, processing_log: ProcessingLog, query_id: Optional[str]) -> "SourceDecodeOperators":
        return SourceDecodeOperators(SourceDecode(self.source, self.alias, processing_log, query_id,
                                                  keep_null_values=self.keep_null_values,
                                                  needed_columns=self.needed_columns))

    def explain(self) -> list[str]:
        return [f"SOURCE {self.source.kind} {self.source.name}"]


@dataclass
class SourceDecodeOperators:
    decode: SourceDecode

    def process(self, records: pa.Table | pa.RecordBatch) -> pa.Table:
        return self.decode.process(records)

    def prepare(self, records: pa.Table) -> list[tuple[int, str, pa.Table]]:
        return [(0, self.decode.source.topic, self.decode.process(records))] if records.num_rows else []

    def process_runs(self, runs: list[tuple[int, pa.Table]]) -> pa.Table:
        tables = [rows for _, rows in runs]
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")

    def operators(self) -> list[Operator]:
        return [self.decode]


def resolve_source(catalog: Catalog, ref: ast.SourceRef) -> DataSource:
    source = catalog.get_source(ref.name)
    if source is None:
        raise KsqlStatementException(f"{ref.name} does not exist.")
    return source


def plan_relation(catalog: Catalog, query: ast.Query) -> RelationPlan:
    """The relation of a query's FROM clause (and JOINs)."""
    if query.joins:
        from pyksqlite.planner.joins import plan_join
        return plan_join(catalog, query)
    source = resolve_source(catalog, query.from_)
    alias = query.from_.effective_name
    layout = source_layout(source, alias)
    return SourceRelation(source, alias, BatchLayout(layout.fields, has_tombstones=source.is_table))
