"""Name resolution for expressions: which batch column (and type) a column reference means.

A `Scope` maps the names a query may use (`col`, `src.col`) to the internal SQL name of a batch
column and its ksqlDB type. Lambda bodies get a child scope in which the lambda's parameters
shadow columns of the same name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pyksqlite.common.duck import quote_identifier
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.grammar.ast import ColumnRef, SqlType


class UnresolvedColumnException(KsqlStatementException):
    """An unknown column. ksqlDB names the clause: `WHERE column 'X' cannot be resolved.`"""

    def __init__(self, column: str, clause: str = "Column"):
        super().__init__(f"{clause} column '{column}' cannot be resolved." if clause != "Column"
                         else f"Column '{column}' cannot be resolved.")
        self.column = column

    def in_clause(self, clause: str) -> "UnresolvedColumnException":
        """The same error worded for a clause, e.g. `SELECT` or `WHERE`."""
        return UnresolvedColumnException(self.column, clause)


@dataclass(frozen=True)
class ColumnBinding:
    """A name's meaning: the SQL text that reads it (a quoted column or a lambda parameter) and its type."""
    sql_name: str
    type: SqlType


class Scope:
    """The columns visible to an expression, by unqualified and by qualified name."""

    def __init__(self, columns: dict[str, ColumnBinding],
                 qualified: Optional[dict[tuple[str, str], ColumnBinding]] = None,
                 ambiguous: Optional[set[str]] = None,
                 parent: Optional["Scope"] = None):
        self.columns = dict(columns)
        self.qualified = dict(qualified or {})
        self.ambiguous = set(ambiguous or ())
        self.parent = parent

    def resolve(self, ref: ColumnRef) -> ColumnBinding:
        """The binding of `ref`, or ksqlDB's error for an unknown, ambiguous or badly qualified name."""
        if ref.source is not None:
            return self._resolve_qualified(ref)
        if ref.name in self.columns:
            return self.columns[ref.name]
        if ref.name in self.ambiguous:
            raise KsqlStatementException(self._ambiguity_message(ref.name))
        if self.parent is not None:
            return self.parent.resolve(ref)
        raise UnresolvedColumnException(ref.name)

    def with_lambda_params(self, params: dict[str, ColumnBinding]) -> "Scope":
        """A child scope for a lambda body: `params` shadow this scope's columns."""
        return Scope(params, parent=self)

    def _resolve_qualified(self, ref: ColumnRef) -> ColumnBinding:
        binding = self.qualified.get((ref.source, ref.name))
        if binding is not None:
            return binding
        if self.parent is not None:
            return self.parent._resolve_qualified(ref)
        if not any(source == ref.source for source, _ in self.qualified):
            raise KsqlStatementException(
                f"'{ref.source}' is not a valid stream/table name or alias.")
        raise UnresolvedColumnException(f"{ref.source}.{ref.name}")

    def _ambiguity_message(self, name: str) -> str:
        sources = sorted(source for source, column in self.qualified if column == name)
        options = " or ".join(f"{source}.{name}" for source in sources)
        return f"Column '{name}' is ambiguous. Could be {options}."


def scope_of_columns(types: dict[str, SqlType]) -> Scope:
    """A scope for a single source whose batch columns are named like its ksqlDB columns."""
    return Scope({name: ColumnBinding(quote_identifier(name), typ) for name, typ in types.items()})
