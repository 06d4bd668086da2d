"""Joins, planned as relations: FROM a JOIN b ON ... [JOIN c ON ...], evaluated left to right.

`plan_join` checks a join as ksqlDB does (source kinds, join types, the ON condition, formats,
windows) and builds a `JoinRelation`: its layout exposes every column of every source (so `a.col`
resolves, an unqualified name shared by two sources is ambiguous), the join key as the result's
key, and per-source ROWTIME (`a.ROWTIME`). Naming follows ksqlDB's join schema: `SELECT *` and a
qualified reference to a name several sources share give `<ALIAS>_<NAME>`; the key is the join
column, or a synthetic `ROWKEY` for FULL OUTER joins and joins on expressions.

The physical side is `pyksqlite.operators.join_driver.JoinOperators`: one decoder per source and one
join operator per JOIN clause (stream-table, stream-stream, table-table, foreign-key).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from pyksqlite.catalog.metastore import STREAM, TABLE, Catalog, DataSource, WindowInfo
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.compiler import ExpressionCompiler
from pyksqlite.expressions.scope import ColumnBinding, Scope, UnresolvedColumnException
from pyksqlite.operators.base import PSEUDO_BINDINGS, WINDOW_BOUNDS, BatchLayout, Field
from pyksqlite.operators.source import source_layout
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.common.schema import KEY, Column
from pyksqlite.common.types import BIGINT
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression

JOIN_KEY_COL = "__jkey"          # the result's join key (the value of ROWKEY or the key column)
HIDDEN_KEY = "$JOINKEY"          # a name no query can spell: the join key, for key outputs
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
class JoinStep:
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


class JoinLayout(BatchLayout):
    """The columns of a join result. Its scope knows qualified names, ambiguity and the key."""

    def __init__(self, fields, leaves: list[Leaf], key_ref: Optional[KeyRef], key_binding: ColumnBinding,
                 has_tombstones: bool):
        super().__init__(tuple(fields), has_tombstones)
        object.__setattr__(self, "_leaves", leaves)
        object.__setattr__(self, "_key_ref", key_ref)
        object.__setattr__(self, "_key_binding", key_binding)

    def scope(self, pseudo: bool = True) -> Scope:
        columns: dict[str, ColumnBinding] = {}
        qualified: dict[tuple[str, str], ColumnBinding] = {}
        seen: dict[str, int] = {}
        for leaf in self._leaves:
            for f in leaf.fields:
                binding = ColumnBinding(f.sql_name, f.type)
                if self._key_ref == KeyRef(leaf.alias, f.name):
                    binding = self._key_binding
                qualified[(leaf.alias, f.name)] = binding
                seen[f.name] = seen.get(f.name, 0) + 1
                columns.setdefault(f.name, binding)
            qualified[(leaf.alias, "ROWTIME")] = ColumnBinding(leaf.rowtime_col, BIGINT)
        ambiguous = {name for name, count in seen.items() if count > 1}
        for name in ambiguous:
            columns.pop(name, None)
        for f in self.fields:
            if f.source is None:   # the synthetic key and the hidden key
                columns[f.name] = ColumnBinding(f.sql_name, f.type)
        if pseudo:
            for name, sql_name, typ in PSEUDO_BINDINGS:
                columns.setdefault(name, ColumnBinding(sql_name, typ))
        return Scope(columns, qualified, ambiguous)


@dataclass
class JoinRelation:
    """A relation of several sources joined left to right."""
    leaves: list[Leaf]
    steps: list[JoinStep]
    layout: JoinLayout
    result_kind: str
    synthetic_key: Optional[str]          # ROWKEY / ROWKEY_n, or None
    key_ref: Optional[KeyRef]             # the key column when not synthetic (and not a FK join)
    viable_keys: list[KeyRef] = field(default_factory=list)
    foreign_key_columns: list[KeyRef] = field(default_factory=list)  # FK join: the left table's key
    key_type: object = None
    join_columns: frozenset = frozenset()     # column names the ON conditions read
    needed_columns: Optional[frozenset] = None  # decode only these value columns (None: all)
    where: Optional[ast.Expr] = None          # the query's WHERE, for a table result's change filter

    def filtered_by(self, where: Optional[ast.Expr]) -> "JoinRelation":
        """This relation, knowing the WHERE applied to it: a table result then drops the changes
        of keys it never emitted (`pyksqlite.operators.join_filter`)."""
        return dataclasses.replace(self, where=where)

    def reading_only(self, columns: set[str]) -> "JoinRelation":
        """This relation, decoding only the value columns named `columns` (and the join columns)."""
        timestamps = {leaf.source.timestamp_column for leaf in self.leaves if leaf.source.timestamp_column}
        return dataclasses.replace(self, needed_columns=frozenset(columns) | self.join_columns | timestamps)

    # --- the RelationPlan surface ---
    @property
    def sources(self) -> list[DataSource]:
        """Every source; the first one, which results inherit formats from, keyed as the join is:
        a keyless left stream (key format NONE) takes the first keyed source's key format."""
        sources = [leaf.source for leaf in self.leaves]
        if sources[0].key_format.name == "NONE":
            keyed = next((s for s in sources if s.key_format.name != "NONE"), None)
            if keyed is not None:
                sources[0] = dataclasses.replace(sources[0], key_format=keyed.key_format)
        return sources

    def check_partitions(self, log, derived: frozenset = frozenset()) -> None:
        """Co-partitioning: topics joined key to key have the same partition count. Foreign-key
        joins and repartitioned sides need none; results of other queries (`derived`) are not
        checked, as ksqlDB's test harness does not."""
        counts = [log.topic_config(leaf.source.topic).partitions for leaf in self.leaves]
        key_columns = {f.sql_name for leaf in self.leaves for f in leaf.fields if f.namespace == KEY}
        for step, leaf in zip(self.steps, self.leaves[1:]):
            if step.join_type == FOREIGN_KEY or step.left_column not in key_columns \
                    or step.right_column not in key_columns:
                continue
            if leaf.source.name in derived or self.leaves[0].source.name in derived:
                continue
            first = self.leaves[0]
            if counts[leaf.index] != counts[0]:
                raise KsqlStatementException(
                    f"Can't join `{first.alias}` with `{leaf.alias}` since the number of partitions don't match. "
                    f"`{first.alias}` partitions = {counts[0]}; `{leaf.alias}` partitions = {counts[leaf.index]}. "
                    "Please repartition either one so that the number of partitions match.")

    @property
    def topics(self) -> list[str]:
        topics: list[str] = []
        for leaf in self.leaves:
            if leaf.source.topic not in topics:
                topics.append(leaf.source.topic)
        return topics

    @property
    def key_columns(self) -> list[Column]:
        if self.foreign_key_columns:
            return [Column(ref.schema_name(), self._field(ref).type, KEY) for ref in self.foreign_key_columns]
        if self.synthetic_key:
            return [Column(self.synthetic_key, self.key_type, KEY)]
        return [Column(self.key_ref.schema_name(), self.key_type, KEY)]

    @property
    def window(self) -> Optional[WindowInfo]:
        return self.leaves[0].source.window

    def build(self, processing_log: ProcessingLog, query_id: Optional[str]):
        from pyksqlite.operators.join_driver import JoinOperators
        return JoinOperators(self, processing_log, query_id)

    def explain(self) -> list[str]:
        lines = []
        for step in reversed(self.steps):
            within = ""
            if step.join_type == STREAM_STREAM:
                within = f" WITHIN ({step.before_ms} ms, {step.after_ms} ms)"
                if step.grace_ms is not None:
                    within += f" GRACE {step.grace_ms} ms"
            lines.append(f"JOIN {step.join_type} {step.kind} ON {step.text}{within}")
        lines += [f"SOURCE {leaf.source.kind} {leaf.source.name} AS {leaf.alias}" for leaf in self.leaves]
        return lines

    # --- naming hooks used by the projection planner (engine.planner.logical) ---
    def natural_name(self, expr: ast.Expr) -> Optional[str]:
        """A select item's name without an alias: shared names qualified as `A_NAME`."""
        if isinstance(expr, ast.ColumnRef):
            if expr.source is not None and (expr.name == "ROWTIME" or self._shared(expr.name)):
                return f"{expr.source}_{expr.name}"
            return expr.name
        if isinstance(expr, ast.Dereference):
            return expr.field
        return None

    def expand_star(self, item: ast.SelectAll) -> list:
        from pyksqlite.planner.logical import OutputExpr
        items = []
        if item.source is None and self.synthetic_key:
            items.append(OutputExpr(self.synthetic_key, ast.ColumnRef(self.synthetic_key), self.key_type))
        leaves = self.leaves
        if item.source is not None:
            leaves = [leaf for leaf in leaves if leaf.alias == item.source]
            if not leaves:
                raise KsqlStatementException(f"'{item.source}' is not a valid stream/table name or alias.")
        for leaf in leaves:
            for f in leaf.fields:
                items.append(OutputExpr(f"{leaf.alias}_{f.name}", ast.ColumnRef(f.name, leaf.alias), f.type))
        return items

    def split_key(self, items: list, sink_name: Optional[str], persistent: bool):
        """The key and value outputs of a projection over this join, with ksqlDB's checks."""
        if not persistent:
            return [], items
        if self.foreign_key_columns:
            return self._split_foreign_key(items, sink_name)
        refs = [self._ref_of(item.expr) for item in items]
        if self.synthetic_key:
            matches = [i for i, item in enumerate(items)
                       if isinstance(item.expr, ast.ColumnRef) and item.expr.source is None
                       and item.expr.name == self.synthetic_key]
            if not matches:
                raise KsqlStatementException(_synthetic_missing(sink_name, self.synthetic_key))
            chosen_name = self.synthetic_key
        else:
            matches, chosen = [], None
            for viable in self.viable_keys:
                matches = [i for i, ref in enumerate(refs) if ref == viable]
                if matches:
                    chosen = viable
                    break
            if chosen is None:
                raise KsqlStatementException(_join_key_missing(sink_name, self.viable_keys))
            chosen_name = chosen.schema_name()
        if len(matches) > 1:
            aliases = " and ".join(sorted(items[i].name for i in matches))
            raise KsqlStatementException(
                f"The projection contains a key column (`{chosen_name}`) more than once, aliased as: {aliases}.")
        key_item = items[matches[0]]
        key_expr = ast.ColumnRef(self.synthetic_key or HIDDEN_KEY)
        keys = [dataclasses.replace(key_item, expr=key_expr)]
        values = [item for i, item in enumerate(items) if i != matches[0]]
        return keys, values

    def _split_foreign_key(self, items: list, sink_name: Optional[str]):
        refs = [self._ref_of(item.expr) for item in items]
        keys, used, missing = [], set(), []
        for key in self.foreign_key_columns:
            matches = [i for i, ref in enumerate(refs) if ref == key]
            if len(matches) > 1:
                aliases = " and ".join(sorted(items[i].name for i in matches))
                raise KsqlStatementException(
                    f"The projection contains a key column (`{key.schema_name()}`) more than once, "
                    f"aliased as: {aliases}.")
            if not matches:
                missing.append(key)
                continue
            used.add(matches[0])
            keys.append(items[matches[0]])
        if missing:
            if len(self.foreign_key_columns) == 1 and len(self.viable_keys) > 1:
                raise KsqlStatementException(_join_key_missing(sink_name, self.viable_keys))
            listed = ", ".join(f"`{k.name}`" for k in missing)
            raise KsqlStatementException(
                "Primary key columns missing in projection. For foreign-key table-table joins, the projection "
                "must include all primary key columns from the left input table "
                f"(`{self.leaves[0].alias}`). Missing columns: {listed}.")
        values = [item for i, item in enumerate(items) if i not in used]
        return keys, values

    def _ref_of(self, expr: ast.Expr) -> Optional[KeyRef]:
        if not isinstance(expr, ast.ColumnRef):
            return None
        if expr.source is not None:
            return KeyRef(expr.source, expr.name)
        owners = [leaf for leaf in self.leaves if expr.name in leaf.column_names()]
        return KeyRef(owners[0].alias, expr.name) if len(owners) == 1 else None

    def _shared(self, name: str) -> bool:
        return sum(1 for leaf in self.leaves if name in leaf.column_names()) > 1

    def _field(self, ref: KeyRef) -> Field:
        leaf = next(leaf for leaf in self.leaves if leaf.alias == ref.alias)
        return next(f for f in leaf.fields if f.name == ref.name)


def _listing(refs: list[str]) -> str:
    if len(refs) == 1:
        return refs[0]
    return ", ".join(refs[:-1]) + " or " + refs[-1]


def _join_key_missing(sink_name: Optional[str], viable: list[KeyRef]) -> str:
    noun = "join expression" if len(viable) == 1 else "join expressions"
    return ("Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"
            f"The query used to build `{sink_name}` must include the {noun} "
            f"{_listing([v.text() for v in viable])} in its projection (eg, SELECT {viable[0].text()}...).")


def _synthetic_missing(sink_name: Optional[str], name: str) -> str:
    return ("Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"
            f"The query used to build `{sink_name}` must include the join expression {name} in its "
            f"projection (eg, SELECT {name}...).\n"
            f"{name} was added as a synthetic key column because the join criteria did not match any source "
            "column. This expression must be included in the projection and may be aliased. ")


# ------------------------------------------------------------------------------------------ planning

def plan_join(catalog: Catalog, query: ast.Query) -> JoinRelation:
    from pyksqlite.planner.relation import resolve_source
    refs = [query.from_] + [j.source for j in query.joins]
    sources = [resolve_source(catalog, ref) for ref in refs]
    _check_sources(refs, sources)
    leaves = []
    for i, (ref, source) in enumerate(zip(refs, sources)):
        base = source_layout(source, ref.effective_name)
        fields = [Field(f.name, f.type, f"s{i}_{f.sql_name}", f.namespace, ref.effective_name) for f in base.fields]
        leaves.append(Leaf(i, source, ref.effective_name, fields))
    _check_condition_sources(query, leaves)
    steps: list[JoinStep] = []
    left_kind = leaves[0].source.kind
    key_ref: Optional[KeyRef] = None
    viable: list[KeyRef] = []
    synthetic = False
    fk_columns: list[KeyRef] = []
    key_type = None
    for number, clause in enumerate(query.joins):
        right = leaves[number + 1]
        left_leaves = leaves[:number + 1]
        step, left_ref, right_ref = _plan_step(clause, left_leaves, right, left_kind, key_ref, viable,
                                               synthetic, fk_columns)
        steps.append(step)
        key_type = step.key_type
        if step.join_type == FOREIGN_KEY:
            fk_columns = [KeyRef(left_leaves[0].alias, c.name) for c in left_leaves[0].source.schema.key_columns] \
                if number == 0 else fk_columns
            key_ref, viable, synthetic = None, list(fk_columns), False
            key_type = fk_columns[0] and next(f for f in left_leaves[0].fields if f.name == fk_columns[0].name).type
        elif clause.kind == "FULL":
            key_ref, viable, synthetic, fk_columns = None, [], True, []
        elif left_ref is not None:
            carried = viable if (left_ref in viable or left_ref == key_ref) and not synthetic else []
            viable = _unique(carried + [left_ref] + ([right_ref] if right_ref else []))
            key_ref = carried[0] if carried else left_ref
            if fk_columns and len(fk_columns) == 1:
                viable = _unique(fk_columns + viable)
                key_ref = fk_columns[0]
            synthetic, fk_columns = False, []
        elif right_ref is not None:
            key_ref, viable, synthetic, fk_columns = right_ref, [right_ref], False, []
        else:
            key_ref, viable, synthetic, fk_columns = None, [], True, []
        if step.join_type == STREAM_TABLE or step.join_type == STREAM_STREAM:
            left_kind = STREAM
        else:
            left_kind = TABLE
    synthetic_name = _synthetic_name(leaves) if synthetic else None
    key_binding = ColumnBinding(JOIN_KEY_COL, key_type)
    fields = [f for leaf in leaves for f in leaf.fields]
    if synthetic_name:
        fields.insert(0, Field(synthetic_name, key_type, JOIN_KEY_COL, KEY, None))
    else:
        fields.append(Field(HIDDEN_KEY, key_type, JOIN_KEY_COL, KEY, None))
    if leaves[0].source.window is not None:  # the result's window, carried to a windowed sink's key
        fields += [Field(f"${name}", BIGINT, sql_name, KEY, None) for name, sql_name in WINDOW_BOUNDS]
    layout = JoinLayout(fields, leaves, key_ref if not synthetic else None, key_binding,
                        has_tombstones=left_kind == TABLE)
    from pyksqlite.planner.rewrite import referenced_columns
    join_columns = frozenset().union(*(referenced_columns(c.on) for c in query.joins))
    return JoinRelation(leaves, steps, layout, left_kind, synthetic_name, key_ref if not synthetic else None,
                        viable, fk_columns, key_type, join_columns)


def _unique(refs: list[KeyRef]) -> list[KeyRef]:
    out: list[KeyRef] = []
    for ref in refs:
        if ref not in out:
            out.append(ref)
    return out


def _synthetic_name(leaves: list[Leaf]) -> str:
    taken = {f.name for leaf in leaves for f in leaf.fields}
    if "ROWKEY" not in taken:
        return "ROWKEY"
    n = 1
    while f"ROWKEY_{n}" in taken:
        n += 1
    return f"ROWKEY_{n}"


def _check_sources(refs: list[ast.SourceRef], sources: list[DataSource]) -> None:
    names = [s.name for s in sources]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise KsqlStatementException(
                f"Can not join '{name}' to '{name}': self joins are not yet supported.")
    kafka = [s.name for s in sources if s.value_format.name == "KAFKA"]
    if kafka:
        raise KsqlStatementException(
            f"Source(s) {', '.join(kafka)} are using the 'KAFKA' value format. This format does not yet support JOIN.")


def _side_scope(leaves: list[Leaf]) -> Scope:
    columns: dict[str, ColumnBinding] = {}
    qualified: dict[tuple[str, str], ColumnBinding] = {}
    counts: dict[str, int] = {}
    for leaf in leaves:
        for f in leaf.fields:
            binding = ColumnBinding(f.sql_name, f.type)
            qualified[(leaf.alias, f.name)] = binding
            counts[f.name] = counts.get(f.name, 0) + 1
            columns.setdefault(f.name, binding)
        qualified[(leaf.alias, "ROWTIME")] = ColumnBinding(leaf.rowtime_col, BIGINT)
    ambiguous = {n for n, c in counts.items() if c > 1}
    for n in ambiguous:
        columns.pop(n)
    return Scope(columns, qualified, ambiguous)


def _sources_of(expr: ast.Expr, leaves: list[Leaf]) -> set[str]:
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
                options = " or ".join(f"{o}.{node.name}" for o in sorted(owners))
                raise KsqlStatementException(f"Column '{node.name}' is ambiguous. Could be {options}.")
            if not owners:
                raise UnresolvedColumnException(node.name).in_clause("JOIN ON")
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


def _qualify(expr: ast.Expr, leaves: list[Leaf]) -> ast.Expr:
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
                changes[f.name] = _qualify(value, leaves)
            elif isinstance(value, tuple):
                changes[f.name] = tuple(_qualify(v, leaves) if isinstance(v, ast.Expr) else v for v in value)
        return dataclasses.replace(expr, **changes)
    return expr


def _plan_step(clause: ast.JoinClause, left_leaves: list[Leaf], right: Leaf, left_kind: str,
               key_ref: Optional[KeyRef], viable: list[KeyRef], synthetic: bool, fk_columns: list[KeyRef]):
    all_leaves = left_leaves + [right]
    on = clause.on
    if not (isinstance(on, ast.Comparison) and on.op == "="):
        raise KsqlStatementException(
            f"Unsupported join expression: {format_expression(on)}. Only equality joins are supported "
            "(for example, ON a.x = b.y).")
    text = _condition_text(on, all_leaves)
    left_expr, right_expr = on.left, on.right
    got = f"{format_expression(_qualify(on.left, all_leaves))} = {format_expression(_qualify(on.right, all_leaves))}"
    for side in (left_expr, right_expr):
        used = _sources_of(side, all_leaves)
        if len(used) != 1:
            if not used:
                raise KsqlStatementException(
                    f"Invalid comparison expression '{format_expression(side)}' in join '({text})'. Each side of "
                    "the join comparision must contain references from exactly one source.")
            raise KsqlStatementException(
                f"Invalid comparison expression '{format_expression(side)}' in join '({text})'. Each side of "
                "the join comparision must contain references from exactly one source.")
    left_sources = _sources_of(left_expr, all_leaves)
    right_sources = _sources_of(right_expr, all_leaves)
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
    right_kind = right.source.kind
    kind_word = {"INNER": "[INNER]", "LEFT": "LEFT [OUTER]", "RIGHT": "RIGHT [OUTER]", "FULL": "[FULL] OUTER"}[clause.kind]
    left_name = left_leaves[0].source.name
    if left_kind == TABLE and right_kind == STREAM:
        raise KsqlStatementException(
            f"Invalid join order: table-stream joins are not supported; only stream-table joins. "
            f"Got {left_name} {kind_word} JOIN {right.source.name}.")
    left_compiler = ExpressionCompiler(_side_scope(left_leaves))
    right_compiler = ExpressionCompiler(_side_scope([right]))
    left_typed = _compile_on(left_compiler, left_expr)
    right_typed = _compile_on(right_compiler, right_expr)
    qualified_left, qualified_right = _qualify(left_expr, left_leaves), _qualify(right_expr, [right])
    if left_typed.type != right_typed.type:
        raise KsqlStatementException(
            f"Invalid join condition: types don't match. Got {format_expression(qualified_left)}"
            f"{{{left_typed.type}}} = {format_expression(qualified_right)}{{{right_typed.type}}}.")
    _check_key_type(left_typed.type, left_expr, left_leaves)
    left_ref = _column_ref(left_expr, left_leaves)
    right_ref = _column_ref(right_expr, [right])
    right_is_pk = right_ref is not None and [c.name for c in right.source.schema.key_columns] == [right_ref.name]
    if clause.within is not None and not (left_kind == STREAM and right_kind == STREAM):
        raise KsqlStatementException(
            f"A window definition was provided for a {'Stream-Table' if left_kind == STREAM else 'Table-Table'} join. "
            "These joins are not windowed. Please drop the window definition (ie, the WITHIN clause) and try to "
            "execute your join again.")
    if left_kind == STREAM and right_kind == STREAM:
        join_type = STREAM_STREAM
        if clause.within is None:
            raise KsqlStatementException(
                "Stream-Stream joins must have a WITHIN clause specified. None was provided. To learn about how "
                "to specify a WITHIN clause with a stream-stream join, please visit: "
                "https://docs.confluent.io/current/ksql/docs/syntax-reference.html#create-stream-as-select")
        _check_windows(left_leaves, right, left_expr, right_expr, left_ref, right_ref)
    elif left_kind == STREAM:
        join_type = STREAM_TABLE
        if clause.kind in ("RIGHT", "FULL"):
            word = "right-outer" if clause.kind == "RIGHT" else "full-outer"
            raise KsqlStatementException(
                f"Invalid join type: {word} join not supported for stream-table join. "
                f"Got {left_name} {kind_word} JOIN {right.source.name}.")
        if not right_is_pk:
            raise KsqlStatementException(
                "Invalid join condition: stream-table joins require to join on the table's primary key. "
                f"Got {got}.")
    else:
        if not right_is_pk:
            raise KsqlStatementException(
                "Invalid join condition: table-table joins require to join on the primary key of the right "
                f"input table. Got {got}.")
        left_is_key = left_ref is not None and (
            (not synthetic and not fk_columns and (left_ref == key_ref or left_ref in viable))
            or (len(left_leaves) == 1 and [c.name for c in left_leaves[0].source.schema.key_columns] == [left_ref.name])
            or (fk_columns and len(fk_columns) == 1 and left_ref == fk_columns[0]))
        join_type = TABLE_TABLE if left_is_key else FOREIGN_KEY
        if join_type == FOREIGN_KEY:
            if clause.kind == "RIGHT":
                raise KsqlStatementException("RIGHT OUTER JOIN on a foreign key is not supported")
            if clause.kind == "FULL":
                raise KsqlStatementException("FULL OUTER JOIN on a foreign key is not supported")
    before = after = 0
    grace = None
    if clause.within is not None:
        before, after = clause.within.before.millis, clause.within.after.millis
        grace = clause.within.grace.millis if clause.within.grace is not None else None
    left_window, right_window = _window_key_columns(left_leaves, left_ref, right, join_type)
    step = JoinStep(clause.kind, join_type, right, left_leaves, left_typed.sql, right_typed.sql,
                    _plain_column(left_expr, left_leaves), _plain_column(right_expr, [right]), left_typed.type,
                    before, after, grace, text, left_window, right_window)
    return step, left_ref, right_ref


def _window_key_columns(left_leaves: list[Leaf], left_ref: Optional[KeyRef], right: Leaf,
                        join_type: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The window bounds each side's join key includes: none unless both sides are windowed."""
    left = next((leaf for leaf in left_leaves if left_ref and leaf.alias == left_ref.alias), left_leaves[0])
    if join_type == FOREIGN_KEY or left.source.window is None or right.source.window is None:
        return (), ()
    bounds = WINDOW_BOUNDS if left.source.window.is_session else WINDOW_BOUNDS[:1]
    return (tuple(f"s{left.index}_{sql_name}" for _, sql_name in bounds),
            tuple(f"s{right.index}_{sql_name}" for _, sql_name in bounds))


def _condition_text(on: ast.Expr, leaves: list[Leaf]) -> str:
    text = format_expression(_qualify(on, leaves))
    return text[1:-1] if text.startswith("(") and text.endswith(")") else text


def _check_condition_sources(query: ast.Query, leaves: list[Leaf]) -> None:
    """ksqlDB checks what every ON condition references before anything else."""
    for number, clause in enumerate(query.joins):
        scope_leaves = leaves[:number + 2]
        right = leaves[number + 1]
        on = clause.on
        if not (isinstance(on, ast.Comparison) and on.op == "="):
            continue
        _check_qualifiers(on, scope_leaves)
        text = _condition_text(on, scope_leaves)
        sides = []
        for side in (on.left, on.right):
            used = _sources_of(side, scope_leaves)
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


def _compile_on(compiler: ExpressionCompiler, expr: ast.Expr):
    try:
        return compiler.compile(expr)
    except UnresolvedColumnException as error:
        raise error.in_clause("JOIN ON") from None


def _column_ref(expr: ast.Expr, leaves: list[Leaf]) -> Optional[KeyRef]:
    if not isinstance(expr, ast.ColumnRef):
        return None
    if expr.source is not None:
        return KeyRef(expr.source, expr.name)
    owners = [leaf.alias for leaf in leaves if expr.name in leaf.column_names()]
    return KeyRef(owners[0], expr.name) if len(owners) == 1 else None


def _plain_column(expr: ast.Expr, leaves: list[Leaf]) -> Optional[str]:
    ref = _column_ref(expr, leaves)
    if ref is None:
        return None
    leaf = next(leaf for leaf in leaves if leaf.alias == ref.alias)
    return next(f.sql_name for f in leaf.fields if f.name == ref.name)


def _check_key_type(typ, expr: ast.Expr, leaves: list[Leaf]) -> None:
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
        ref = _column_ref(expr, leaves)
        name = ref.schema_name() if ref else "ROWKEY"
        raise KsqlStatementException(
            "Map keys, including types that contain maps, are not supported as they may lead to unexpected "
            "behavior due to inconsistent serialization. "
            f"Key column name: `{name}`. Column type: {typ}. "
            "See https://github.com/confluentinc/ksql/issues/6621 for more.")


def _check_windows(left_leaves: list[Leaf], right: Leaf, left_expr, right_expr, left_ref, right_ref) -> None:
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
