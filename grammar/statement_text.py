"""CREATE ... AS SELECT statements back to text the way ksqlDB's SqlFormatter prints them: one
select item per indented line, each with its name, then FROM, WHERE, WINDOW, GROUP BY,
PARTITION BY, HAVING and EMIT on lines of their own:

    CREATE TABLE OUTPUT WITH (KEY_FORMAT='KAFKA') AS SELECT
      TEST.F1 K1,
      COUNT(*) TOTAL
    FROM TEST TEST
    GROUP BY TEST.F1
    EMIT CHANGES

ksqlDB quotes this text (`Statement: ...`) in errors raised while it executes a statement.
"""
from __future__ import annotations

from typing import Optional

from pyksqlite.grammar import ast as a
from pyksqlite.grammar.formatter import format_expression, format_identifier, format_string


def format_create_as_select(stmt: a.CreateAsSelect, names: list[Optional[str]]) -> str:
    """`stmt` as SqlFormatter prints it; `names[i]` is the name of select item i (None for `*`)."""
    head = f"CREATE {'OR REPLACE ' if stmt.or_replace else ''}{stmt.kind} "
    head += f"{'IF NOT EXISTS ' if stmt.if_not_exists else ''}{format_identifier(stmt.name)}"
    if stmt.properties:
        head += f" WITH ({_properties(stmt.properties)})"
    return f"{head} AS {format_query(stmt.query, names)}"


def format_query(query: a.Query, names: list[Optional[str]]) -> str:
    lines = [_select(query.select, names), "FROM " + _relation(query)]
    if query.where is not None:
        lines.append("WHERE " + format_expression(query.where))
    if query.window is not None:
        lines.append("WINDOW " + _window(query.window))
    if query.group_by:
        lines.append("GROUP BY " + ", ".join(format_expression(e) for e in query.group_by))
    if query.partition_by:
        lines.append("PARTITION BY " + ", ".join(format_expression(e) for e in query.partition_by))
    if query.having is not None:
        lines.append("HAVING " + format_expression(query.having))
    lines.append(f"EMIT {query.emit or 'CHANGES'}")
    if query.limit is not None:
        lines.append(f"LIMIT {query.limit}")
    return "\n".join(lines)


def _select(items: tuple[a.SelectItem, ...], names: list[Optional[str]]) -> str:
    texts = [_select_item(item, name) for item, name in zip(items, names)]
    if len(texts) == 1:
        return "SELECT " + texts[0]
    return "SELECT\n" + ",\n".join("  " + t for t in texts)


def _select_item(item: a.SelectItem, name: Optional[str]) -> str:
    if isinstance(item, a.SelectAll):
        return f"{format_identifier(item.source)}.*" if item.source else "*"
    if isinstance(item, a.SelectStructAll):
        return f"{format_expression(item.expr)}->*"
    return f"{format_expression(item.expr)} {format_identifier(name)}"


def _source(ref: a.SourceRef) -> str:
    return f"{format_identifier(ref.name)} {format_identifier(ref.alias or ref.name)}"


def _relation(query: a.Query) -> str:
    text = _source(query.from_)
    for join in query.joins:
        kind = {"INNER": "INNER", "LEFT": "LEFT OUTER", "RIGHT": "RIGHT OUTER",
                "FULL": "FULL OUTER"}.get(join.kind, join.kind)
        within = f" WITHIN {_within(join.within)}" if join.within is not None else ""
        text += f"\n{kind} JOIN {_source(join.source)}{within} ON ({format_expression(join.on)})"
    return text


def _within(within: a.WithinSpec) -> str:
    if within.before == within.after:
        text = str(within.before)
    else:
        text = f"({within.before}, {within.after})"
    return text + (f" GRACE PERIOD {within.grace}" if within.grace is not None else "")


def _window(window: a.WindowSpec) -> str:
    parts = []
    if window.kind == "SESSION":
        parts.append(str(window.gap))
    else:
        parts.append(f"SIZE {window.size}")
        if window.kind == "HOPPING":
            parts.append(f"ADVANCE BY {window.advance}")
    if window.retention is not None:
        parts.append(f"RETENTION {window.retention}")
    if window.grace is not None:
        parts.append(f"GRACE PERIOD {window.grace}")
    return f"{window.kind} ( {', '.join(parts)} ) "


def _properties(properties) -> str:
    def value(v) -> str:
        return format_string(v) if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
    return ", ".join(f"{name}={value(v)}" for name, v in properties)
