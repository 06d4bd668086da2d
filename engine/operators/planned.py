"""PlannedStatement: one SQL statement run per batch, prepared once per DuckDB connection.

`pyksqlite.common.duck.run_sql` parses and binds a statement on every call before DuckDB plans and runs it.
An operator that runs the same statement on every batch (the fused JSON projection) keeps the
relation DuckDB returns for it instead: the relation reads its input table by name each time it
runs, so only the batch registered under that name changes between runs. The relation belongs to
the connection of the thread that made it; on another thread the statement is prepared again.
"""
from __future__ import annotations

import pyarrow as pa

from pyksqlite.common.duck import connection


class PlannedStatement:
    """`run(statement, table)`: the statement's rows over `table`, registered as `input_name`."""

    def __init__(self, input_name: str):
        self.input_name = input_name
        self._connection = None
        self._statement: str | None = None
        self._relation = None

    def run(self, statement: str, table: pa.Table) -> pa.Table:
        con = connection()
        con.register(self.input_name, table)
        try:
            return self._relation_for(con, statement).to_arrow_table()
        finally:
            con.unregister(self.input_name)

    def _relation_for(self, con, statement: str):
        if con is not self._connection or statement != self._statement:
            # Prepared before it is remembered: a statement DuckDB rejects is not kept.
            self._relation = con.sql(statement)
            self._connection, self._statement = con, statement
        return self._relation
