"""AST -> logical plan: what a query computes, with its result schema, checked as ksqlDB checks it.

The logical plan of a (stateless) query is: a source, an optional WHERE predicate, the result's
key columns (the source key, or the PARTITION BY expressions) and value columns, each a named,
typed expression over the source's columns. Naming follows ksqlDB: an alias, else a column's
own name, a struct field's name for `s->f`, else `KSQL_COL_<n>`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from pyksqlite.catalog.metastore import TABLE, Catalog, DataSource
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.compiler import ExpressionCompiler
from pyksqlite.operators.base import BatchLayout
from pyksqlite.planner.rewrite import convert_timestamp_literals, referenced_columns
from pyksqlite.planner.relation import RelationPlan, SourceRelation, plan_relation
from pyksqlite.planner.table_functions import FlattenPlan, is_synthetic, plan_flatten, uses_table_functions
from pyksqlite.common.schema import KEY, VALUE, WINDOWEND, WINDOWSTART, Column, LogicalSchema
from pyksqlite.common.types import SqlType
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression, quote_identifier

RESERVED_NAMES = ("ROWTIME", "ROWPARTITION", "ROWOFFSET", WINDOWSTART, WINDOWEND)


@dataclass(frozen=True)
class OutputExpr:
    name: str
    expr: ast.Expr
    type: SqlType


class PlanOverRelation:
    """What every plan kind reads off its relation: the left-most source (formats and partitions
    are inherited from it, as in ksqlDB), the source names and the topics to consume."""
    relation: RelationPlan

    @property
    def source(self) -> DataSource:
        return self.relation.sources[0]

    @property
    def sources(self) -> list[str]:
        return [s.name for s in self.relation.sources]

    @property
    def topics(self) -> list[str]:
        return self.relation.topics


@dataclass
class LogicalPlan(PlanOverRelation):
    """A projection: relation -> [filter] -> project (key + value columns) -> sink.

    Every plan kind (this one, aggregations) offers the same surface to the executor: `schema()`,
    `source` (the left-most source: formats and partitions are inherited from it, as in ksqlDB),
    `window`, `topics`, `sources`, `result_kind`, `emit`, `limit`, `explain()` and
    `build_physical(...)`.
    """
    relation: RelationPlan
    where: Optional[ast.Expr]
    keys: list[OutputExpr]
    values: list[OutputExpr]
    result_kind: str                      # STREAM | TABLE
    partitioned_by: bool = False
    emit: Optional[str] = None
    limit: Optional[int] = None
    flatten: Optional[FlattenPlan] = None  # table functions: expand rows before the projection

    @property
    def input_layout(self) -> BatchLayout:
        """The rows the projection reads: the relation's, or the flattened ones."""
        return self.flatten.layout if self.flatten is not None else self.relation.layout

    @property
    def window(self):
        return self.relation.window

    def schema(self) -> LogicalSchema:
        columns = [Column(k.name, k.type, KEY) for k in self.keys]
        columns += [Column(v.name, v.type, VALUE) for v in self.values]
        return LogicalSchema(tuple(columns))

    def explain(self) -> str:
        lines = [f"PROJECT key [{', '.join(_describe(o) for o in self.keys)}] "
                 f"value [{', '.join(_describe(o) for o in self.values)}]"]
        if self.partitioned_by:
            lines.append("REPARTITION BY key")
        if self.flatten is not None:
            lines.append(self.flatten.explain())
        if self.where is not None:
            lines.append(f"FILTER {format_expression(self.where)}")
        lines += self.relation.explain()
        return "\n".join("  " * i + "> " + line for i, line in enumerate(lines))

    def build_physical(self, sink_factory, processing_log, query_id):
        from pyksqlite.planner.physical import build_projection
        return build_projection(self, sink_factory, processing_log, query_id)


def _describe(o: OutputExpr) -> str:
    return f"{format_expression(o.expr)} AS {quote_identifier(o.name)}"


class LogicalPlanner:
    """Builds the logical plan of one SELECT against the catalog."""

    def __init__(self, catalog: Catalog, persistent: bool):
        self.catalog = catalog
        self.persistent = persistent

    def plan(self, query: ast.Query, sink_name: Optional[str] = None):
        """The logical plan of a SELECT: an aggregation or a projection over its relation."""
        relation = plan_relation(self.catalog, query)
        if self.persistent and query.limit is not None:
            kind = "TABLE" if _is_aggregation(query) or relation.result_kind == TABLE else "STREAM"
            raise KsqlStatementException(
                f"CREATE {kind} AS SELECT statements don't support LIMIT clause.")
        if _is_aggregation(query):
            if uses_table_functions(query.select):
                raise KsqlStatementException("Table functions cannot be used with aggregations.")
            from pyksqlite.planner.aggregation import plan_aggregation
            return plan_aggregation(self, relation, query, sink_name)
        return self.plan_projection(relation, query, sink_name)

    def plan_projection(self, relation: RelationPlan, query: ast.Query,
                        sink_name: Optional[str]) -> LogicalPlan:
        if self.persistent and relation.result_kind == TABLE and relation.window is not None:
            raise KsqlStatementException("KSQL does not support persistent queries on windowed tables.")
        if isinstance(relation, SourceRelation):
            relation = relation.keeping_null_values()
        layout = relation.layout
        compiler = ExpressionCompiler(layout.scope())
        where = convert_timestamp_literals(query.where) if query.where is not None else None
        if where is not None:
            self._check_where(compiler, where)
        flatten = None
        select = query.select
        if uses_table_functions(select):
            flatten = plan_flatten(select, layout, relation.result_kind, compiler)
            select = flatten.select
            compiler = ExpressionCompiler(flatten.layout.scope())
        items = self.expand_select(select, relation, compiler,
                                   keys_last=bool(query.partition_by))
        self.check_reserved(items)
        if query.partition_by and relation.result_kind == TABLE:
            raise KsqlStatementException("Only streams may be PARTITIONED BY. "
                                         f"'{relation.sources[0].name}' is a table.")
        keys, values = self._split_key_and_values(query, relation, items, compiler, sink_name)
        if self.persistent and not values:
            raise KsqlStatementException("The projection contains no value columns.")
        if isinstance(relation, SourceRelation):
            read = set().union(*(referenced_columns(o.expr) for o in keys + values))
            read |= referenced_columns(where) if where is not None else set()
            read |= {relation.source.timestamp_column} if relation.source.timestamp_column else set()
            read |= set().union(*(referenced_columns(c.call) for c in flatten.calls)) if flatten else set()
            relation = relation.reading_only(read)
        elif hasattr(relation, "reading_only"):  # a join decodes only what the query reads, too
            read = set().union(*(referenced_columns(o.expr) for o in keys + values))
            read |= set().union(*(referenced_columns(c.call) for c in flatten.calls)) if flatten else set()
            relation = relation.reading_only(read | (referenced_columns(where) if where is not None else set()))
            relation = relation.filtered_by(where)
        return LogicalPlan(relation=relation, where=where, keys=keys, values=values,
                           result_kind=relation.result_kind, partitioned_by=bool(query.partition_by),
                           emit=query.emit, limit=query.limit, flatten=flatten)

    def _check_where(self, compiler: ExpressionCompiler, where: ast.Expr) -> None:
        compiler.compile_predicate(where, clause="WHERE")

    def check_reserved(self, items: list[OutputExpr]) -> None:
        if not self.persistent:
            return
        for item in items:
            if item.name in RESERVED_NAMES:
                if isinstance(item.expr, ast.ColumnRef) and item.expr.name == item.name:
                    raise KsqlStatementException(
                        f"Reserved column name in select: `{item.name}`. Please remove or alias the column.")
                raise KsqlStatementException(
                    f"`{item.name}` is a reserved column name. You cannot use it as an alias for a column.")

    # --- the projection ---
    def expand_select(self, select: tuple[ast.SelectItem, ...], relation: RelationPlan,
                      compiler: ExpressionCompiler, keys_last: bool = False) -> list[OutputExpr]:
        """The SELECT list with `*`, `src.*` and `s->*` expanded and every item named. When the
        key changes (PARTITION BY, GROUP BY), `*` lists the old key columns after the others,
        as ksqlDB does: they move into the value."""
        layout = relation.layout
        taken = {f.name for f in layout.fields} | {i.alias for i in select
                                                  if isinstance(i, ast.SelectExpr) and i.alias}
        names = _GeneratedNames(taken)
        natural_name = getattr(relation, "natural_name", _natural_name)  # joins name `a.col` as `A_COL`
        items: list[OutputExpr] = []
        for item in select:
            if isinstance(item, ast.SelectAll):
                items += self._expand_star(item, relation, keys_last)
            elif isinstance(item, ast.SelectStructAll):
                typed = compiler.compile(item.expr)
                if typed.type.base != "STRUCT":
                    raise KsqlStatementException(f"Expected STRUCT type for {format_expression(item.expr)}->*")
                for field_name, field_type in typed.type.fields:
                    items.append(OutputExpr(field_name, ast.Dereference(item.expr, field_name), field_type))
            else:
                typed = compiler.compile_projection(item.expr)
                name = item.alias or natural_name(item.expr) or names.next()
                if not item.alias and isinstance(item.expr, ast.Dereference):
                    name = _unclashed(name, taken | {i.name for i in items})
                items.append(OutputExpr(name, item.expr, typed.type))
        _check_duplicates(items)
        return items

    def _expand_star(self, item: ast.SelectAll, relation: RelationPlan, keys_last: bool) -> list[OutputExpr]:
        if hasattr(relation, "expand_star"):  # a join: every source's columns as `ALIAS_COL`
            return relation.expand_star(item)
        fields = list(relation.layout.fields)
        if self.persistent:
            # A persistent query carries the window in its windowed key, not in `*`'s columns.
            fields = [f for f in fields if f.name not in (WINDOWSTART, WINDOWEND) or f.namespace != KEY]
        if keys_last:
            fields = [f for f in fields if f.namespace != KEY] + [f for f in fields if f.namespace == KEY]
        if item.source is not None:
            fields = [f for f in fields if f.source == item.source]
            if not fields:
                raise KsqlStatementException(f"'{item.source}' is not a valid stream/table name or alias.")
        return [OutputExpr(f.name, ast.ColumnRef(f.name, f.source if item.source else None), f.type)
                for f in fields]

    def _partition_by_keys(self, partition_by: tuple[ast.Expr, ...], compiler) -> list[ast.Expr]:
        nulls = [e for e in partition_by if isinstance(e, ast.NullLiteral)]
        if nulls and len(partition_by) > 1:
            raise KsqlStatementException("Cannot PARTITION BY multiple columns including NULL")
        for expr in partition_by:
            try:
                compiler.compile(expr)
            except KsqlStatementException as error:
                missing = next(iter(sorted(referenced_columns(expr))), "")
                if "cannot be resolved" in error.message and missing:
                    raise KsqlStatementException(
                        f"PARTITION BY column '{missing}' cannot be resolved. '{missing}' must be a column "
                        "in the source schema since PARTITION BY is applied on the input.") from error
                raise
        return [e for e in partition_by if not isinstance(e, ast.NullLiteral)]

    def _split_key_and_values(self, query: ast.Query, relation: RelationPlan, items: list[OutputExpr],
                              compiler: ExpressionCompiler, sink_name: Optional[str]):
        if hasattr(relation, "split_key") and not query.partition_by:  # a join: the join key's rules
            return relation.split_key(items, sink_name, self.persistent)
        if query.partition_by:
            key_exprs = self._partition_by_keys(query.partition_by, compiler)
        else:
            key_exprs = [ast.ColumnRef(c.name) for c in relation.key_columns]
        taken = {i.name for i in items} | {f.name for f in relation.layout.fields}
        names = _GeneratedNames(taken)
        keys: list[OutputExpr] = []
        key_items: set[int] = set()
        missing: list[str] = []
        for expr in key_exprs:
            matches = [i for i, item in enumerate(items) if _same_expr(item.expr, expr)]
            if len(matches) > 1:
                shown = " and ".join(f"`{items[i].name}`" for i in matches)
                raise KsqlStatementException(f"The projection contains a key column more than once: {shown}.")
            if matches:
                key_items.add(matches[0])
                keys.append(items[matches[0]])
            elif query.partition_by:
                if not any(isinstance(i, ast.SelectAll) for i in query.select):
                    shown = format_expression(_qualified(expr, relation.sources[0].name))
                    raise KsqlStatementException(
                        f"The query used to build `{sink_name}` must include the partitioning expression "
                        f"{shown} in its projection (eg, SELECT {shown}...).")
                typed = compiler.compile(expr)
                keys.append(OutputExpr(_natural_name(expr) or names.next(), expr, typed.type))
            elif self.persistent:
                missing.append(format_expression(expr))
        if missing:
            everything = [format_expression(e) for e in key_exprs]
            raise KsqlStatementException(_key_missing_message(sink_name, everything))
        if not self.persistent and not query.partition_by:
            # A transient query returns exactly its projection; keys are not split out.
            return [], items
        values = [item for i, item in enumerate(items) if i not in key_items]
        return keys, values


class _GeneratedNames:
    """KSQL_COL_0, KSQL_COL_1, ... skipping names already taken."""

    def __init__(self, taken: set[str]):
        self.taken = set(taken)
        self.counter = 0

    def next(self) -> str:
        while f"KSQL_COL_{self.counter}" in self.taken:
            self.counter += 1
        name = f"KSQL_COL_{self.counter}"
        self.taken.add(name)
        self.counter += 1
        return name


def _is_aggregation(query: ast.Query) -> bool:
    """GROUP BY, WINDOW, HAVING or an aggregate function call in the SELECT list."""
    if query.group_by or query.window is not None or query.having is not None:
        return True
    from pyksqlite.expressions.functions import default_registry
    registry = default_registry()
    return any(isinstance(item, ast.SelectExpr) and _calls_aggregate(item.expr, registry)
               for item in query.select)


def _calls_aggregate(expr: ast.Expr, registry) -> bool:
    if isinstance(expr, ast.FunctionCall) and registry.kind_of(expr.name) == "aggregate":
        return True
    children = [getattr(expr, name) for name in getattr(expr, "__dataclass_fields__", {})]
    for child in children:
        if isinstance(child, ast.Expr) and _calls_aggregate(child, registry):
            return True
        if isinstance(child, tuple):
            for element in child:
                items = element if isinstance(element, tuple) else (element,)
                for x in items:
                    if isinstance(x, ast.Expr) and _calls_aggregate(x, registry):
                        return True
                    if isinstance(x, ast.WhenClause) and (_calls_aggregate(x.condition, registry)
                                                          or _calls_aggregate(x.result, registry)):
                        return True
    return False


def _unclashed(name: str, taken: set[str]) -> str:
    """A struct field's name, suffixed `_1`, `_2`... when another column already has it."""
    if name not in taken:
        return name
    suffix = 1
    while f"{name}_{suffix}" in taken:
        suffix += 1
    return f"{name}_{suffix}"


def _qualified(expr: ast.Expr, source: str) -> ast.Expr:
    """`expr` with its unqualified column references qualified by `source` (for messages)."""
    if isinstance(expr, ast.ColumnRef):
        return expr if expr.source else ast.ColumnRef(expr.name, source)
    if not hasattr(expr, "__dataclass_fields__"):
        return expr
    changes = {}
    for name in expr.__dataclass_fields__:
        value = getattr(expr, name)
        if isinstance(value, ast.Expr):
            changes[name] = _qualified(value, source)
        elif isinstance(value, tuple) and value and all(isinstance(v, ast.Expr) for v in value):
            changes[name] = tuple(_qualified(v, source) for v in value)
    return dataclasses.replace(expr, **changes) if changes else expr


def _natural_name(expr: ast.Expr) -> Optional[str]:
    if isinstance(expr, ast.ColumnRef):
        return None if is_synthetic(expr.name) else expr.name
    if isinstance(expr, ast.Dereference):
        return expr.field
    return None


def _same_expr(a: ast.Expr, b: ast.Expr) -> bool:
    """Structural equality, ignoring source qualifiers of plain columns."""
    if isinstance(a, ast.ColumnRef) and isinstance(b, ast.ColumnRef):
        return a.name == b.name
    return a == b


def _check_duplicates(items: list[OutputExpr]) -> None:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise KsqlStatementException(f"Duplicate value columns found in schema: `{item.name}` {item.type}")
        seen.add(item.name)


def _key_missing_message(sink_name: Optional[str], missing: list[str]) -> str:
    noun = "key column" if len(missing) == 1 else "key columns"
    listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
    return ("Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"
            f"The query used to build `{sink_name}` must include the {noun} {listed} "
            f"in its projection (eg, SELECT {', '.join(missing)}...).")


# --- pull queries ---------------------------------------------------------------------------------

_PULL_HELP = " See https://cnfl.io/queries for more info."
_PUSH_HINT = "\nAdd EMIT CHANGES if you intended to issue a push query."
_PULL_DISALLOWED_COLUMNS = ("ROWPARTITION", "ROWOFFSET")
_RANGE_OPS = ("<", "<=", ">", ">=")


def check_pull_clauses(query: ast.Query) -> None:
    """ksqlDB's checks of a pull query's clauses, before it is planned: no JOIN, WINDOW or GROUP
    BY, no negative LIMIT."""
    if query.joins:
        raise KsqlStatementException("Pull queries don't support JOIN clauses." + _PULL_HELP + _PUSH_HINT)
    if query.window is not None:
        raise KsqlStatementException("Pull queries don't support WINDOW clauses." + _PULL_HELP + _PUSH_HINT)
    if query.group_by:
        raise KsqlStatementException("Pull queries don't support GROUP BY clauses." + _PULL_HELP + _PUSH_HINT)
    if query.limit is not None and query.limit < 0:
        raise KsqlStatementException("Pull queries don't support negative integers in the LIMIT clause."
                                     + _PULL_HELP)


def check_pull_query(catalog: Catalog, query: ast.Query, table_scan: bool = True,
                     range_scan: bool = True) -> None:
    """ksqlDB's checks of a planned pull query, with its messages: only queryable tables (a
    CTAS's or a SOURCE table), no ROWPARTITION/ROWOFFSET, and, when table scans are disabled, a
    WHERE clause that pins the key (`_check_key_lookup`)."""
    source = catalog.get_source(query.from_.name)
    if source is None:
        return   # the planner reports unknown sources
    if source.is_table and not source.is_source and not catalog.queries_writing(source.name):
        raise KsqlStatementException(
            f"The `{source.name}` table isn't queryable. To derive a queryable table, you can do "
            f"'CREATE TABLE QUERYABLE_{source.name} AS SELECT * FROM {source.name}'.{_PULL_HELP}")
    selected = set()
    for item in query.select:
        if isinstance(item, ast.SelectExpr):
            selected |= referenced_columns(item.expr)
    _check_pseudo_columns(selected, "SELECT")
    if query.where is not None:
        _check_pseudo_columns(referenced_columns(query.where), "WHERE")
    if source.is_table and query.where is not None:
        _check_in_key_types(source, query.where)
    if source.is_table and not table_scan:
        _check_key_lookup(source, query.where, range_scan)


def _check_in_key_types(source: DataSource, where: ast.Expr) -> None:
    """`key IN ('10', ...)` on a numeric key: ksqlDB converts each value to the key's type."""
    keys = {c.name: c for c in source.schema.key_columns}
    for disjunct in _split(where, "OR"):
        for term in _split(disjunct, "AND"):
            if isinstance(term, ast.InList) and isinstance(term.value, ast.ColumnRef) and term.value.name in keys:
                column = keys[term.value.name]
                for item in term.items:
                    if isinstance(item, ast.StringLiteral) and str(column.type) not in ("STRING", "VARCHAR"):
                        raise KsqlStatementException(f"'{item.value}' can not be converted to the type of the "
                                                     f"key column: {column.name} {column.type} KEY")


def _check_pseudo_columns(names: set[str], clause: str) -> None:
    bad = [n for n in _PULL_DISALLOWED_COLUMNS if n in names]
    if bad:
        listed = ", ".join(f"`{n}`" for n in bad)
        raise KsqlStatementException(f"Pull queries don't support the following columns in {clause} clauses: {listed}")


def _split(expr: ast.Expr, op: str) -> list[ast.Expr]:
    if isinstance(expr, ast.LogicalBinary) and expr.op.upper() == op:
        return _split(expr.left, op) + _split(expr.right, op)
    return [expr]


def _check_key_lookup(source: DataSource, where: Optional[ast.Expr], range_scan: bool) -> None:
    """Without table scans, every disjunct of WHERE must look keys up: `key = value` or
    `key IN (...)` per key column (a single range on a STRING key when range scans are on)."""
    key_columns = {c.name: c for c in source.schema.key_columns}
    scan_needed = "Query requires table scan to be enabled"
    if where is None:
        raise KsqlStatementException(scan_needed)
    disjuncts = _split(where, "OR")
    for disjunct in disjuncts:
        constrained: dict[str, list[str]] = {}
        for term in _split(disjunct, "AND"):
            if isinstance(term, ast.Like):
                raise KsqlStatementException("Like condition must be between strings")
            column, op = _key_constraint(term, key_columns)
            if column is not None:
                constrained.setdefault(column, []).append(op)
        if not constrained:
            raise KsqlStatementException(
                f"WHERE clause missing key column for disjunct: {_parenthesized(disjunct)}")
        if any(len(ops) > 1 for ops in constrained.values()):
            raise KsqlStatementException("A comparison condition on the key column cannot be combined "
                                         "with other comparisons such as an IN predicate")
        ranged = [name for name, ops in constrained.items() if ops[0] in _RANGE_OPS or ops[0] == "BETWEEN"]
        if len(constrained) < len(key_columns):
            raise KsqlStatementException("Multi-column sources must specify every key in the WHERE clause.")
        if ranged and (len(disjuncts) > 1 or len(key_columns) > 1 or not range_scan
                       or str(key_columns[ranged[0]].type) != "STRING"):
            raise KsqlStatementException(scan_needed)


def _key_constraint(term: ast.Expr, key_columns: dict) -> tuple[Optional[str], Optional[str]]:
    """(key column, operator) if `term` constrains a key column, else (None, None)."""
    if isinstance(term, ast.InList) and isinstance(term.value, ast.ColumnRef) and term.value.name in key_columns:
        return term.value.name, "IN"
    if isinstance(term, ast.Between) and isinstance(term.value, ast.ColumnRef) and term.value.name in key_columns:
        return term.value.name, "BETWEEN"
    if not isinstance(term, ast.Comparison):
        return None, None
    for side, other in ((term.left, term.right), (term.right, term.left)):
        if isinstance(side, ast.ColumnRef) and side.name in key_columns:
            if referenced_columns(other):
                raise KsqlStatementException("A comparison must be between a key column and a resolvable expression.")
            if term.op not in ("=",) + _RANGE_OPS:
                column = key_columns[side.name]
                raise KsqlStatementException(f"Bound on key columns '[`{column.name}` {column.type} KEY]' "
                                             "must currently be '='. ")
            return side.name, term.op
    return None, None


def _parenthesized(expr: ast.Expr) -> str:
    text = format_expression(expr)
    return text if text.startswith("(") else f"({text})"
