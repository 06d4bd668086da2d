"""CREATE OR REPLACE of a query's sink: which in-place upgrades ksqlDB accepts.

An in-place upgrade keeps the query's id, and with it its consumer group and state, so the
new plan continues from the committed offsets instead of reprocessing its input. That is only
sound where the new plan reads the same inputs the same way and writes the same sink:

- the sink (ksqlDB's DataSource.canUpgradeTo): the same kind, topic, key columns, formats,
  timestamp column, window and partitions; value columns may be added or removed, but a
  column that stays keeps its type;
- the query: the same source(s) and joins, the same PARTITION BY (the key), and for a stateful
  query the same WINDOW, GROUP BY and aggregate calls (its state is kept); the projection,
  WHERE and HAVING may change.

Anything else is rejected, naming what differs; the statement then changes nothing.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from pyksqlite.catalog.metastore import DataSource
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression


def check_sink_upgrade(existing: DataSource, new: DataSource, partitions: Optional[tuple[int, int]] = None) -> None:
    """Raise ksqlDB's "Cannot upgrade data source" error where `new` cannot replace `existing`.
    `partitions`: (the sink topic's partitions, the partitions the statement asks for)."""
    checks: list[tuple[str, Callable[[DataSource], Any]]] = [
        ("type", lambda s: s.kind), ("topic", lambda s: s.topic),
        ("keyFormat", lambda s: s.key_format.name.upper()), ("valueFormat", lambda s: s.value_format.name.upper()),
        ("timestampColumn", lambda s: s.timestamp_column), ("window", lambda s: _window_text(s)),
        ("isSource", lambda s: s.is_source),
    ]
    for name, read in checks:
        if read(existing) != read(new):
            _fail(existing, name, read(existing), read(new))
    if not _schema_compatible(existing, new):
        _fail(existing, "schema", existing.schema.describe(), new.schema.describe())
    if partitions is not None and partitions[0] != partitions[1]:
        _fail(existing, "partitions", partitions[0], partitions[1])


def check_query_upgrade(query_id: str, old: ast.Query, new: ast.Query, is_aggregate: Callable[[str], bool]) -> None:
    """Raise where the new query cannot take over the old one's offsets and state."""
    def differs(what: str, old_value: Any, new_value: Any) -> None:
        if old_value != new_value:
            raise KsqlStatementException(
                f"Cannot upgrade query {query_id}: its {what} cannot change in place "
                f"({_shown(old_value)} to {_shown(new_value)}). Terminate the query and drop its sink "
                "to run the new one from the start of its input.")
    differs("source", _source_name(old.from_), _source_name(new.from_))
    differs("joins", _joins(old), _joins(new))
    differs("key (PARTITION BY)", _expressions(old.partition_by), _expressions(new.partition_by))
    differs("window", _window_clause(old.window), _window_clause(new.window))
    differs("GROUP BY", _expressions(old.group_by), _expressions(new.group_by))
    differs("aggregations", _aggregate_calls(old, is_aggregate), _aggregate_calls(new, is_aggregate))
    differs("EMIT", old.emit, new.emit)


def _fail(existing: DataSource, name: str, old: Any, new: Any) -> None:
    raise KsqlStatementException(
        f"Cannot upgrade data source: DataSource '`{existing.name}`' has {name} = {old} "
        f"which is not upgrade compatible with {new}")


def _schema_compatible(existing: DataSource, new: DataSource) -> bool:
    old_keys = [(c.name, c.type) for c in existing.schema.key_columns]
    if old_keys != [(c.name, c.type) for c in new.schema.key_columns]:
        return False
    new_values = {c.name: c.type for c in new.schema.value_columns}
    return all(new_values.get(c.name, c.type) == c.type for c in existing.schema.value_columns)


def _window_text(source: DataSource) -> Optional[str]:
    return None if source.window is None else repr(source.window)


def _source_name(ref: Any) -> Any:
    return getattr(ref, "name", ref)


def _joins(query: ast.Query) -> list:
    return [f"{j.kind} JOIN {_source_name(j.source)} ON {_expr_text(j.on)}"
            + (f" WITHIN {j.within!r}" if j.within is not None else "") for j in query.joins]


def _expressions(expressions) -> list[str]:
    return [_expr_text(e) for e in expressions]


def _window_clause(window: Any) -> Optional[str]:
    return None if window is None else repr(window)


def _aggregate_calls(query: ast.Query, is_aggregate: Callable[[str], bool]) -> list[str]:
    """The aggregate calls of the projection and HAVING, in a stable order."""
    found: set[str] = set()
    for item in query.select:
        _collect_aggregates(getattr(item, "expr", None), is_aggregate, found)
    _collect_aggregates(query.having, is_aggregate, found)
    return sorted(found)


def _collect_aggregates(expr: Any, is_aggregate: Callable[[str], bool], found: set[str]) -> None:
    if expr is None:
        return
    if isinstance(expr, ast.FunctionCall) and is_aggregate(expr.name):
        found.add(_expr_text(expr))
        return
    for name in getattr(expr, "__dataclass_fields__", {}):
        child = getattr(expr, name)
        for part in (child if isinstance(child, tuple) else (child,)):
            for item in (part if isinstance(part, tuple) else (part,)):
                if isinstance(item, (ast.Expr, ast.WhenClause)):
                    _collect_aggregates(item, is_aggregate, found)


def _expr_text(expr: Any) -> Optional[str]:
    if expr is None:
        return None
    try:
        return format_expression(expr)
    except Exception:  # noqa: BLE001 - an expression the formatter does not print: compare as data
        return repr(expr)


def _shown(value: Any) -> str:
    if value in (None, [], ()):
        return "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
