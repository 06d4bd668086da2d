"""The text ksqlDB quotes (`Statement: ...`) in errors raised while it executes a CREATE ... AS
SELECT: the statement as its AstSanitizer leaves it, every column qualified by its source
(`TEST.F1`) and every projected column named (`KSQL_COL_0` when nothing names it), printed by
`pyksqlite.grammar.statement_text`.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from pyksqlite.catalog.metastore import Catalog
from pyksqlite.common.errors import KsqlException
from pyksqlite.planner.from_clause import plan_relation
from pyksqlite.planner.outputs import GeneratedNames, natural_name
from pyksqlite.planner.relation import RelationPlan
from pyksqlite.grammar import ast
from pyksqlite.grammar.statement_text import format_create_as_select

PSEUDO_COLUMNS = ("ROWTIME", "ROWPARTITION", "ROWOFFSET", "WINDOWSTART", "WINDOWEND")


def sanitized_text(catalog: Catalog, stmt: ast.CreateAsSelect) -> Optional[str]:
    """`stmt` as ksqlDB prints it after sanitizing, or None if its sources cannot be resolved."""
    try:
        relation = plan_relation(catalog, stmt.query)
    except KsqlException:
        return None
    query = stmt.query
    owner = _owners(query, relation)
    names = _item_names(query.select, relation)
    qualified = dataclasses.replace(
        query,
        select=tuple(dataclasses.replace(i, expr=_qualify(i.expr, owner, frozenset()))
                     if isinstance(i, (ast.SelectExpr, ast.SelectStructAll)) else i for i in query.select),
        joins=tuple(dataclasses.replace(j, on=_qualify(j.on, owner, frozenset())) for j in query.joins),
        where=_qualify(query.where, owner, frozenset()),
        group_by=tuple(_qualify(e, owner, frozenset()) for e in query.group_by),
        partition_by=tuple(_qualify(e, owner, frozenset()) for e in query.partition_by),
        having=_qualify(query.having, owner, frozenset()))
    return format_create_as_select(dataclasses.replace(stmt, query=qualified), names)


def _owners(query: ast.Query, relation: RelationPlan) -> dict[str, str]:
    """The source (alias) each unqualified column name belongs to."""
    default = query.from_.alias or query.from_.name
    owners: dict[str, list[str]] = {}
    for f in relation.layout.fields:
        owners.setdefault(f.name, []).append(f.source or default)
    found = {name: sources[0] for name, sources in owners.items() if len(set(sources)) == 1}
    if not query.joins:
        found.update({name: default for name in PSEUDO_COLUMNS if name not in found})
    return found


def _item_names(select: tuple[ast.SelectItem, ...], relation: RelationPlan) -> list[Optional[str]]:
    taken = {f.name for f in relation.layout.fields} | {
        i.alias for i in select if isinstance(i, ast.SelectExpr) and i.alias}
    generated = GeneratedNames(taken)
    natural = getattr(relation, "natural_name", natural_name)
    return [(item.alias or natural(item.expr) or generated.next()) if isinstance(item, ast.SelectExpr)
            else None for item in select]


def _qualify(node, owner: dict[str, str], params: frozenset):
    """`node` with each unqualified column (not a lambda parameter) qualified by its source."""
    if node is None:
        return None
    if isinstance(node, ast.ColumnRef):
        if node.source is None and node.name not in params and node.name in owner:
            return dataclasses.replace(node, source=owner[node.name])
        return node
    if isinstance(node, tuple):
        return tuple(_qualify(item, owner, params) for item in node)
    if isinstance(node, ast.Lambda):
        return dataclasses.replace(node, body=_qualify(node.body, owner, params | set(node.params)))
    if isinstance(node, (ast.Expr, ast.WhenClause)):
        changes = {f.name: _qualify(getattr(node, f.name), owner, params)
                   for f in dataclasses.fields(node) if f.name != "pos"}
        return dataclasses.replace(node, **changes)
    return node


def projected_names(catalog: Catalog, query: ast.Query) -> Optional[set[str]]:
    """The names of the columns a query projects (`*` expanded), known before it is planned;
    None if its sources cannot be resolved."""
    try:
        relation = plan_relation(catalog, query)
    except KsqlException:
        return None
    names = {name for name in _item_names(query.select, relation) if name is not None}
    if any(isinstance(i, (ast.SelectAll, ast.SelectStructAll)) for i in query.select):
        names |= {f.name for f in relation.layout.fields}
        expand = getattr(relation, "expand_star", None)
        if expand is not None:
            names |= {item.name for i in query.select if isinstance(i, ast.SelectAll) for item in expand(i)}
    return names
