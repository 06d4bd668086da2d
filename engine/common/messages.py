"""ksqlDB's wording of statement errors, built from the AST nodes they are about.

Messages about a node that has a source position start with ksqlDB's location prefix
(`Line: 3, Col: 38: `), relative to the script the statement came from. Errors raised while
ksqlDB *prepares* a statement (resolving sources and qualifying column names) carry its
`Exception while preparing statement: ` prefix before the location.
"""
from __future__ import annotations

from typing import Iterable

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.grammar.ast import location_prefix
from pyksqlite.grammar.formatter import format_identifier

PREPARING = "Exception while preparing statement: "


def ambiguous_column(name: str, candidates: Iterable[str], node) -> KsqlStatementException:
    """An unqualified column that two or more sources of a join have."""
    options = " or ".join(f"{source}.{name}" for source in sorted(candidates))
    return KsqlStatementException(
        f"{PREPARING}{location_prefix(node)}Column '{name}' is ambiguous. Could be {options}.")


def unknown_source(name: str, node) -> KsqlStatementException:
    """A FROM or JOIN source that is not in the catalog."""
    return KsqlStatementException(f"{location_prefix(node)}{name} does not exist.")


def unknown_sink(name: str, position) -> KsqlStatementException:
    """An INSERT INTO target that is not in the catalog (`position`: where its name is)."""
    prefix = position.prefix() if position is not None else ""
    return KsqlStatementException(
        f"{prefix}Source {format_identifier(name, always_quoted=True)} does not exist.")


def window_without_group_by(window) -> KsqlStatementException:
    """A WINDOW clause on a query that does not aggregate."""
    return KsqlStatementException(f"{location_prefix(window)}WINDOW clause requires a GROUP BY clause.")


def and_list(items: list[str]) -> str:
    """ksqlDB's GrammaticalJoiner.and(): `A`, `A and B`, `A, B and C`."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def aggregates_cannot_undo(names: list[str]) -> KsqlStatementException:
    """Aggregating a table with functions that cannot retract a row's old value."""
    plural = "s" if len(names) > 1 else ""
    return KsqlStatementException(f"The aggregation function{plural} {and_list(names)} cannot be "
                                  "applied to a table source, only to a stream source.")
