"""Aggregations (GROUP BY, WINDOW, HAVING): planned here. (Being built; see issue 3.)"""
from __future__ import annotations

from engine.errors import KsqlStatementException


def plan_aggregation(planner, relation, query, sink_name):
    raise KsqlStatementException("Aggregations (GROUP BY, WINDOW, HAVING) are not supported yet by ksqlite.")
