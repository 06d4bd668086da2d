"""The engine's DuckDB connections: one single-threaded connection per Python thread.

Every vectorized step (serde, Select, aggregation, joins, timestamp parsing) runs SQL over Arrow
tables through `run_sql`. One thread each, because a query's tasks already run on their own
threads and the benchmarks measure per-core throughput.
"""
from __future__ import annotations

import threading
from typing import Callable

import duckdb
import pyarrow as pa

_local = threading.local()
_hooks: list[Callable[[duckdb.DuckDBPyConnection], None]] = []


def on_connection(hook: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
    """Run `hook(con)` before each use of a connection (Python UDFs register themselves so; a
    hook must be cheap when it has nothing new to do)."""
    if hook not in _hooks:
        _hooks.append(hook)


def connection() -> duckdb.DuckDBPyConnection:
    """This thread's DuckDB connection (single-threaded, UTC)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect()
        con.execute("SET threads=1")
        con.execute("SET TimeZone='UTC'")
        _local.con = con
    for hook in _hooks:
        hook(con)
    return con


def run_sql(sql: str, **tables: pa.Table) -> pa.Table:
    """Run `sql` over the given Arrow tables (registered under their keyword names)."""
    con = connection()
    for name, table in tables.items():
        con.register(name, table)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        for name in tables:
            con.unregister(name)
