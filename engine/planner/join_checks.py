"""ksqlDB's checks of a join, with its messages: the sources joined, the ON condition (one
equality, each side reading one source), the kinds joined and their options (WITHIN, outer
joins, primary keys), key types and windows. `pyksqlite.planner.joins` calls them in ksqlDB's
order while it plans.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from pyksqlite.catalog.metastore import STREAM, TABLE, DataSource
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.common.messages import ambiguous_column
from pyksqlite.expressions.scope import UnresolvedColumnException
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression
from pyksqlite.operators.join_spec import KeyRef, Leaf


def check_sources(sources: list[DataSource]) -> None:
    """No self joins, no KAFKA-format sources."""
    names = [s.name for s in sources]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise KsqlStatementException(
                f"Can not join '{name}' to '{name}': self joins are not yet supported.")
    kafka = [s.name for s in sources if s.value_format.name == "KAFKA"]
    if kafka:
        raise KsqlStatementException(
            f"Source(s) {', '.join(kafka)} are using the 'KAFKA' value format. This format does not yet support JOIN.")


def check_condition_sources(query: ast.Query, leaves: list[Leaf]) -> None:
    """ksqlDB checks what every ON condition references before anything else."""
    for number, clause in enumerate(query.joins):
        scope_leaves = leaves[:number + 2]
        right = leaves[number + 1]
        on = clause.on
        if not (isinstance(on, ast.Comparison) and on.op == "="):
            continue
        _check_qualifiers(on, scope_leaves)
        text = condition_text(on, scope_leaves)
        sides = []
        for side in (on.left, on.right):
            used = sources_of(side, scope_leaves)
            if len(used) != 1:
                raise KsqlStatementException(
                    f"Invalid comparison expression '{format_expression(side)}' in join '({text})'. Each side "
                    "of the join comparision must contain references from exactly one source.")
            sides.append(next(iter(used)))
        if sides[0] == sides[1]:
            raise KsqlStatementException(
                "Each side of the join must reference exactly one source and not the same source. "
                f"Left side references `{sides[0]}` and right references `{sides[1]}`")
        if right.alias not in sides:
            raise KsqlStatementException(
                f"A join criteria is expected to reference the source (`{right.alias}`) in the FROM clause, "
                f"instead the right source references `{sides[1]}` and the left source references `{sides[0]}`")


def _check_qualifiers(expr, leaves: list[Leaf]) -> None:
    if isinstance(expr, ast.ColumnRef):
        if expr.source is not None and not any(leaf.alias == expr.source for leaf in leaves):
            raise KsqlStatementException(
                f"Failed to prepare statement: '{expr.source}' is not a valid stream/table name or alias.")
        return
    if dataclasses.is_dataclass(expr):
        for f in dataclasses.fields(expr):
            value = getattr(expr, f.name)
            for item in (value if isinstance(value, tuple) else (value,)):
                if isinstance(item, ast.Expr):
                    _check_qualifiers(item, leaves)


def check_join_condition(on: ast.Expr) -> None:
    """ksqlDB joins on one equality: AND of several, other comparisons and other expressions
    are each rejected with its own wording."""
    if isinstance(on, ast.LogicalBinary):
        raise KsqlStatementException("Invalid join condition: joins on multiple conditions are not "
                                     f"yet supported. Got {format_expression(on)}.")
    if isinstance(on, ast.Comparison) and on.op != "=":
        raise KsqlStatementException(
            f"Invalid join condition: inequality joins not supported. Got {format_expression(on)}.")
    if not isinstance(on, ast.Comparison):
        raise KsqlStatementException(f"Unsupported join expression: {format_expression(on)}")


def condition_text(on: ast.Expr, leaves: list[Leaf]) -> str:
    text = format_expression(qualify(on, leaves))
    return text[1:-1] if text.startswith("(") and text.endswith(")") else text


def sources_of(expr: ast.Expr, leaves: list[Leaf]) -> set[str]:
    """The aliases an expression references (unqualified names resolved against all leaves)."""
    found: set[str] = set()

    def visit(node):
        if isinstance(node, ast.ColumnRef):
            if node.source is not None:
                if not any(leaf.alias == node.source for leaf in leaves):
                    raise KsqlStatementException(
                        f"'{node.source}' is not a valid stream/table name or alias.")
                found.add(node.source)
                return
            owners = [leaf.alias for leaf in leaves if node.name in leaf.column_names()]
            if len(owners) > 1:
                raise ambiguous_column(node.name, owners, node)
            if not owners:
                raise UnresolvedColumnException(node.name, "JOIN ON", node.pos)
            found.add(owners[0])
            return
        if dataclasses.is_dataclass(node):
            for f in dataclasses.fields(node):
                visit(getattr(node, f.name))
        elif isinstance(node, tuple):
            for x in node:
                visit(x)

    visit(expr)
    return found


def qualify(expr: ast.Expr, leaves: list[Leaf]) -> ast.Expr:
    """The expression with every column qualified by its source (for ksqlDB's error texts)."""
    if isinstance(expr, ast.ColumnRef):
        if expr.source is None:
            owners = [leaf.alias for leaf in leaves if expr.name in leaf.column_names()]
            if len(owners) == 1:
                return ast.ColumnRef(expr.name, owners[0])
        return expr
    if dataclasses.is_dataclass(expr) and isinstance(expr, ast.Expr):
        changes = {}
        for f in dataclasses.fields(expr):
            value = getattr(expr, f.name)
            if isinstance(value, ast.Expr):
                changes[f.name] = qualify(value, leaves)
            elif isinstance(value, tuple):
                changes[f.name] = tuple(qualify(v, leaves) if isinstance(v, ast.Expr) else v for v in value)
        return dataclasses.replace(expr, **changes)
    return expr


def column_ref(expr: ast.Expr, leaves: list[Leaf]) -> Optional[KeyRef]:
    if not isinstance(expr, ast.ColumnRef):
        return None
    if expr.source is not None:
        return KeyRef(expr.source, expr.name)
    owners = [leaf.alias for leaf in leaves if expr.name in leaf.column_names()]
    return KeyRef(owners[0], expr.name) if len(owners) == 1 else None


def oriented_sides(on: ast.Comparison, leaves: list[Leaf], right: Leaf, text: str) -> tuple[ast.Expr, ast.Expr]:
    """The two sides of `on` (over `leaves`), the one that reads the joined source (`right`)
    last. Each side reads exactly one source, not the same one."""
    for side in (on.left, on.right):
        if len(sources_of(side, leaves)) != 1:
            raise KsqlStatementException(
                f"Invalid comparison expression '{format_expression(side)}' in join '({text})'. Each side of "
                "the join comparision must contain references from exactly one source.")
    left_expr, right_expr = on.left, on.right
    left_sources, right_sources = sources_of(left_expr, leaves), sources_of(right_expr, leaves)
    if left_sources == right_sources:
        (only,) = left_sources
        raise KsqlStatementException(
            f"Each side of the join must reference exactly one source and not the same source. "
            f"Left side references `{only}` and right references `{only}`")
    if right.alias in left_sources:
        left_expr, right_expr = right_expr, left_expr
        left_sources, right_sources = right_sources, left_sources
    if right.alias not in right_sources:
        (l_src,), (r_src,) = left_sources, right_sources
        raise KsqlStatementException(
            f"A join criteria is expected to reference the source (`{right.alias}`) in the FROM clause, "
            f"instead the right source references `{r_src}` and the left source references `{l_src}`")
    return left_expr, right_expr


def check_types_match(left: ast.Expr, left_type, right: ast.Expr, right_type,
                      left_leaves: list[Leaf], right_leaf: Leaf) -> None:
    if left_type != right_type:
        raise KsqlStatementException(
            f"Invalid join condition: types don't match. Got {format_expression(qualify(left, left_leaves))}"
            f"{{{left_type}}} = {format_expression(qualify(right, [right_leaf]))}{{{right_type}}}.")


_KIND_WORDS = {"INNER": "[INNER]", "LEFT": "LEFT [OUTER]", "RIGHT": "RIGHT [OUTER]", "FULL": "[FULL] OUTER"}


def check_join_order(clause: ast.JoinClause, left_kind: str, left_name: str, right: Leaf) -> None:
    """Stream-table, not table-stream."""
    if left_kind == TABLE and right.source.kind == STREAM:
        raise KsqlStatementException(
            f"Invalid join order: table-stream joins are not supported; only stream-table joins. "
            f"Got {left_name} {_KIND_WORDS[clause.kind]} JOIN {right.source.name}.")


def check_join_type(clause: ast.JoinClause, left_kind: str, left_name: str, right: Leaf, right_is_pk: bool,
                    got: str) -> None:
    """What each kind of join allows: a WITHIN clause only, and always, between streams; a
    stream-table join neither RIGHT nor FULL; tables joined on the right table's primary key."""
    right_kind = right.source.kind
    if clause.within is not None and not (left_kind == STREAM and right_kind == STREAM):
        raise KsqlStatementException(
            f"A window definition was provided for a {'Stream-Table' if left_kind == STREAM else 'Table-Table'} join. "
            "These joins are not windowed. Please drop the window definition (ie, the WITHIN clause) and try to "
            "execute your join again.")
    if left_kind == STREAM and right_kind == STREAM:
        if clause.within is None:
            raise KsqlStatementException(
                "Stream-Stream joins must have a WITHIN clause specified. None was provided. To learn about how "
                "to specify a WITHIN clause with a stream-stream join, please visit: "
                "https://docs.confluent.io/current/ksql/docs/syntax-reference.html#create-stream-as-select")
    elif left_kind == STREAM:
        if clause.kind in ("RIGHT", "FULL"):
            word = "right-outer" if clause.kind == "RIGHT" else "full-outer"
            raise KsqlStatementException(
                f"Invalid join type: {word} join not supported for stream-table join. "
                f"Got {left_name} {_KIND_WORDS[clause.kind]} JOIN {right.source.name}.")
        if not right_is_pk:
            raise KsqlStatementException(
                "Invalid join condition: stream-table joins require to join on the table's primary key. "
                f"Got {got}.")
    elif not right_is_pk:
        raise KsqlStatementException(
            "Invalid join condition: table-table joins require to join on the primary key of the right "
            f"input table. Got {got}.")


def check_foreign_key_join(clause: ast.JoinClause) -> None:
    if clause.kind == "RIGHT":
        raise KsqlStatementException("RIGHT OUTER JOIN on a foreign key is not supported")
    if clause.kind == "FULL":
        raise KsqlStatementException("FULL OUTER JOIN on a foreign key is not supported")


def check_key_type(typ, ref: Optional[KeyRef]) -> None:
    """No MAP in a join key (ksqlDB cannot serialize it consistently)."""
    def has_map(t) -> bool:
        if t is None:
            return False
        if t.base == "MAP":
            return True
        if t.base == "ARRAY":
            return has_map(t.element)
        if t.base == "STRUCT":
            return any(has_map(ft) for _, ft in t.fields)
        return False
    if has_map(typ):
        name = ref.schema_name() if ref else "ROWKEY"
        raise KsqlStatementException(
            "Map keys, including types that contain maps, are not supported as they may lead to unexpected "
            "behavior due to inconsistent serialization. "
            f"Key column name: `{name}`. Column type: {typ}. "
            "See https://github.com/confluentinc/ksql/issues/6621 for more.")


def check_windows(left_leaves: list[Leaf], right: Leaf, left_ref: Optional[KeyRef], right_ref: Optional[KeyRef]) -> None:
    """Windowed sources join only windowed sources of the same kind, on their keys."""
    left = left_leaves[0].source
    lw, rw = left.window, right.source.window
    if lw is None and rw is None:
        return
    if (lw is None) != (rw is None):
        windowed, other = (left, right.source) if lw is not None else (right.source, left)
        raise KsqlStatementException(
            f"Can not join windowed source to non-windowed source.\n`{windowed.name}` is "
            f"{windowed.window.kind} windowed\n`{other.name}` is not windowed")
    if lw.is_session != rw.is_session:
        raise KsqlStatementException(
            f"Incompatible windowed sources.\nLeft source: {lw.kind}\nRight source: {rw.kind}\nSession windowed "
            "sources can only be joined to other session windowed sources, and may still not result in expected "
            "behaviour as session bounds must be an exact match for the join to work\nHopping and tumbling "
            "windowed sources can only be joined to other hopping and tumbling windowed sources")
    left_key = [c.name for c in left.schema.key_columns]
    right_key = [c.name for c in right.source.schema.key_columns]
    if not (left_ref and right_ref and [left_ref.name] == left_key and [right_ref.name] == right_key):
        raise KsqlStatementException(
            "Implicit repartitioning of windowed sources is not supported. "
            "See https://github.com/confluentinc/ksql/issues/4385.")
