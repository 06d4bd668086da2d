"""The DuckDB boundary: the engine's connections, and the one way names and text enter its SQL.

Every vectorized step (serde, Select, aggregation, joins, timestamp parsing) runs SQL over Arrow
tables through `run_sql`, one single-threaded connection per Python thread (a query's tasks
already run on their own threads, and the benchmarks measure per-core throughput).

Quoting. Names and text from users (stream, column, STRUCT field names, aliases, string
literals, JSON member names read from data) reach SQL only through `quote_identifier` and
`quote_string`; nothing else in the engine pastes user text into SQL. ksqlDB's quoted names may
hold any character; two cannot reach DuckDB: NUL in an identifier (DuckDB cuts a STRUCT field
name at NUL, so two names could become one) and unpaired UTF-16 surrogates (not encodable as
the UTF-8 DuckDB reads). Both are statement errors. A string literal may hold NUL: DuckDB keeps
it in VARCHAR values.

Lockdown. Should a name ever slip through unquoted, the connection cannot touch the machine:
no file system (read_text, read_csv, COPY, ATTACH...), no extension install or load, and its
configuration locked before any statement of the engine runs. The engine reads no file through
DuckDB; Python does its own file work.
"""
from __future__ import annotations

import threading
from typing import Callable

import duckdb
import pyarrow as pa

from pyksqlite.common.errors import KsqlStatementException

_local = threading.local()
_hooks: list[Callable[[duckdb.DuckDBPyConnection], None]] = []

# Options DuckDB takes at connect time. TimeZone comes from the ICU extension, which is only
# settable by SET, so it is set before `lock_configuration` (which must be last).
LOCKED_DOWN_CONFIG = {
    "threads": 1,
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def on_connection(hook: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
    """Run `hook(con)` before each use of a connection (Python UDFs register themselves so; a
    hook must be cheap when it has nothing new to do)."""
    if hook not in _hooks:
        _hooks.append(hook)


def connection() -> duckdb.DuckDBPyConnection:
    """This thread's DuckDB connection (single-threaded, UTC, locked down)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _open_locked_down()
        _local.con = con
    for hook in _hooks:
        hook(con)
    return con


def _open_locked_down() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config=LOCKED_DOWN_CONFIG)
    con.execute("SET TimeZone='UTC'")
    con.execute("SET lock_configuration=true")
    return con


def open_database_file(path: str) -> duckdb.DuckDBPyConnection:
    """A connection to a user's DuckDB database file (the JDBC connectors'): it reads and writes
    that file, and nothing else of the machine (no other files, no extensions, configuration
    locked), like the engine's own connections."""
    con = duckdb.connect(str(path), config=LOCKED_DOWN_CONFIG)
    try:
        con.execute("SET lock_configuration=true")
    except duckdb.InvalidInputException:   # the file is open already, its configuration locked
        pass
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


# ---- quoting ---------------------------------------------------------------------------------

def quote_identifier(name: str) -> str:
    """`name` as a DuckDB quoted identifier (a column, a STRUCT field, an alias), whatever it
    holds; a statement error for the two things an identifier cannot hold (see the module doc)."""
    if "\x00" in name:
        raise KsqlStatementException(
            f"Invalid name {_shown(name)}: names cannot contain the NUL character (\\u0000).")
    _check_encodable(name, "name")
    return '"' + name.replace('"', '""') + '"'


def quote_string(text: str) -> str:
    """`text` as a DuckDB string literal, whatever it holds (NUL included)."""
    _check_encodable(text, "string")
    return "'" + text.replace("'", "''") + "'"


def _check_encodable(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise KsqlStatementException(
            f"Invalid {what} {_shown(text)}: it holds an unpaired UTF-16 surrogate, "
            "which is not a character.") from None


def _shown(text: str) -> str:
    """A name for an error message: printable, and short."""
    shown = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return "'" + (shown if len(shown) <= 80 else shown[:77] + "...") + "'"
