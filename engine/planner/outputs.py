"""What every plan kind (projections, aggregations) and the relations share: named output
columns (`OutputExpr`), ksqlDB's names for unnamed ones (`natural_name`, `KSQL_COL_<n>`), and
what a plan reads off its relation (`PlanOverRelation`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pyksqlite.catalog.metastore import DataSource
from pyksqlite.common.types import SqlType
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression, quote_identifier
from pyksqlite.planner.relation import RelationPlan
from pyksqlite.planner.table_functions import is_synthetic


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


def describe_output(o: OutputExpr) -> str:
    return f"{format_expression(o.expr)} AS {quote_identifier(o.name)}"


class GeneratedNames:
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


def natural_name(expr: ast.Expr) -> Optional[str]:
    """A select item's own name: a column's (not a synthetic one), a struct field's."""
    if isinstance(expr, ast.ColumnRef):
        return None if is_synthetic(expr.name) else expr.name
    if isinstance(expr, ast.Dereference):
        return expr.field
    return None
