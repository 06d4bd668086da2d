"""Logical schemas of streams and tables: key, value and header columns, as ksqlDB describes them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pyarrow as pa

from pyksqlite.common.types import SqlType, to_arrow
from pyksqlite.grammar.formatter import format_identifier, format_string

KEY = "KEY"
VALUE = "VALUE"
HEADERS = "HEADERS"   # the whole header list: ARRAY<STRUCT<KEY STRING, VALUE BYTES>>
HEADER = "HEADER"     # one header's last value by key: BYTES

# Pseudo-columns every source has; never part of SELECT *.
ROWTIME, ROWPARTITION, ROWOFFSET = "ROWTIME", "ROWPARTITION", "ROWOFFSET"
WINDOWSTART, WINDOWEND = "WINDOWSTART", "WINDOWEND"
PSEUDO_COLUMNS = (ROWTIME, ROWPARTITION, ROWOFFSET)


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    namespace: str = VALUE           # KEY | VALUE | HEADERS | HEADER
    header_key: Optional[str] = None  # for HEADER columns

    def describe(self) -> str:
        """`NAME` TYPE [KEY|HEADERS|HEADER('k')], as ksqlDB prints a schema."""
        suffix = {KEY: " KEY", HEADERS: " HEADERS", VALUE: ""}.get(self.namespace, "")
        if self.namespace == HEADER:
            suffix = f" HEADER({format_string(self.header_key)})"
        return f"{format_identifier(self.name, always_quoted=True)} {self.type}{suffix}"


@dataclass(frozen=True)
class LogicalSchema:
    """The ordered columns of a source. Key columns first, as ksqlDB orders them."""
    columns: tuple[Column, ...]

    @property
    def key_columns(self) -> list[Column]:
        return [c for c in self.columns if c.namespace == KEY]

    @property
    def value_columns(self) -> list[Column]:
        """Columns serialized in the record value (headers are not)."""
        return [c for c in self.columns if c.namespace == VALUE]

    @property
    def header_columns(self) -> list[Column]:
        return [c for c in self.columns if c.namespace in (HEADERS, HEADER)]

    def find(self, name: str) -> Optional[Column]:
        for column in self.columns:
            if column.name == name:
                return column
        return None

    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def describe(self) -> str:
        return ", ".join(c.describe() for c in self.columns)

    def arrow_schema(self, columns: Optional[list[Column]] = None) -> pa.Schema:
        return pa.schema([(c.name, to_arrow(c.type)) for c in (columns if columns is not None else self.columns)])
