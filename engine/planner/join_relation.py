"""A join as the planner sees it: the columns of its result (`JoinLayout`: qualified names,
ambiguity, the join key) and the relation surface the projection planner uses (`JoinRelation`:
sources, topics, the result's key and ksqlDB's checks of it, EXPLAIN, the physical side).

Naming follows ksqlDB's join schema: `SELECT *` and a qualified reference to a name several
sources share give `<ALIAS>_<NAME>`; the key is the join column, or a synthetic `ROWKEY` for FULL
OUTER joins and joins on expressions.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from pyksqlite.catalog.metastore import DataSource
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.common.schema import KEY, Column
from pyksqlite.common.types import BIGINT
from pyksqlite.expressions.scope import ColumnBinding, Scope
from pyksqlite.grammar import ast
from pyksqlite.operators.base import PSEUDO_BINDINGS, BatchLayout
from pyksqlite.operators.join_driver import JoinOperators
from pyksqlite.operators.join_spec import FOREIGN_KEY, STREAM_STREAM, JoinSpec, KeyRef, Leaf
from pyksqlite.planner.outputs import OutputExpr

HIDDEN_KEY = "$JOINKEY"          # a name no query can spell: the join key, for key outputs


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
        # ksqlDB names a join's columns `SOURCE_NAME`, in its messages too.
        shown = {(alias, name): ast.ColumnRef(f"{alias}_{name}") for alias, name in qualified}
        shown.update({(None, name): shown[(leaf.alias, name)] for leaf in self._leaves
                      for name in (f.name for f in leaf.fields) if name in columns and name not in ambiguous
                      and self._owner(name) == leaf.alias})
        return Scope(columns, qualified, ambiguous, shown_as=shown)

    def _owner(self, name: str) -> Optional[str]:
        return next((leaf.alias for leaf in self._leaves if any(f.name == name for f in leaf.fields)), None)


class JoinRelation(JoinSpec):
    """A join relation (`JoinSpec`) with what the planner does with it."""

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
            return [Column(ref.schema_name(), self.field_of(ref).type, KEY) for ref in self.foreign_key_columns]
        if self.synthetic_key:
            return [Column(self.synthetic_key, self.key_type, KEY)]
        return [Column(self.key_ref.schema_name(), self.key_type, KEY)]

    def build(self, processing_log: ProcessingLog, query_id: Optional[str]) -> JoinOperators:
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

    # --- naming hooks used by the projection planner (`pyksqlite.planner.logical`) ---
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
