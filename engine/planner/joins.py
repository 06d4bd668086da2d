"""Joins: planned here as relations. (Being built; see issue 4.)"""
from __future__ import annotations

from engine.errors import KsqlStatementException


def plan_join(catalog, query):
    raise KsqlStatementException("JOIN is not supported yet by ksqlite.")
