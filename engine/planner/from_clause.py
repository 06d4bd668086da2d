"""The relation a query's FROM clause reads: one stream or table, or its JOINs."""
from __future__ import annotations

from pyksqlite.catalog.metastore import Catalog
from pyksqlite.grammar import ast
from pyksqlite.operators.base import BatchLayout
from pyksqlite.operators.source import source_layout
from pyksqlite.planner.joins import plan_join
from pyksqlite.planner.relation import RelationPlan, SourceRelation, resolve_source


def plan_relation(catalog: Catalog, query: ast.Query) -> RelationPlan:
    """The relation of a query's FROM clause (and JOINs)."""
    if query.joins:
        return plan_join(catalog, query)
    source = resolve_source(catalog, query.from_)
    alias = query.from_.effective_name
    layout = source_layout(source, alias)
    return SourceRelation(source, alias, BatchLayout(layout.fields, has_tombstones=source.is_table))
