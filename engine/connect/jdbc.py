"""JDBC URLs to Python database connections, and the SQL the JDBC connectors send, per database:
PostgreSQL (psycopg 3, the optional `connect` extra), SQLite (the standard library) and DuckDB.

    jdbc:postgresql://host[:port]/database[?user=u&password=p&sslmode=...]   (or connection.user,
                                                                             connection.password)
    jdbc:sqlite:/path/to/file.db          jdbc:duckdb:/path/to/file.duckdb

Every name (table, column) enters SQL through `quote_identifier` (double quotes, as all three
databases read them) and every value as a bound parameter: names and values come from users
and from records, and are never pasted into SQL. Files of SQLite and DuckDB must lie in a
directory connectors may use (`WorkerContext.allowed_path`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

from pyksqlite.common.duck import quote_identifier
from pyksqlite.common.types import SqlType
from pyksqlite.connect.api import ConnectError
from pyksqlite.connect.context import WorkerContext

_PG_PARAMETERS = ("user", "password", "sslmode", "sslrootcert", "connect_timeout", "application_name", "host")


@dataclass(frozen=True)
class Dialect:
    name: str
    placeholder: str
    types: dict[str, str]
    complex_type: str                       # ARRAY, MAP, STRUCT: stored as JSON text
    connect: Callable[[], Any]

    def column_type(self, sql_type: SqlType) -> str:
        if sql_type.base == "DECIMAL":
            return f"NUMERIC({int(sql_type.precision)}, {int(sql_type.scale)})" if self.name != "sqlite" else "NUMERIC"
        if sql_type.base in ("ARRAY", "MAP", "STRUCT"):
            return self.complex_type
        return self.types[sql_type.base]

    def begin(self, connection) -> Any:
        """Start a transaction; the object to execute statements on inside it. DuckDB's
        cursors are connections of their own, so statements go to the connection itself."""
        if self.name == "duckdb":
            connection.begin()
            return connection
        return connection.cursor()

    def create_table(self, table: str, columns: list[tuple[str, SqlType]], keys: list[str]) -> str:
        parts = [f"{quote_identifier(name)} {self.column_type(sql_type)}"
                 + (" NOT NULL" if name in keys else "") for name, sql_type in columns]
        if keys:
            parts.append("PRIMARY KEY (" + ", ".join(quote_identifier(k) for k in keys) + ")")
        return f"CREATE TABLE IF NOT EXISTS {quote_identifier(table)} ({', '.join(parts)})"

    def insert(self, table: str, names: list[str], keys: Optional[list[str]] = None) -> str:
        """INSERT of one row of parameters; with `keys`, an upsert on them."""
        sql = (f"INSERT INTO {quote_identifier(table)} ({', '.join(map(quote_identifier, names))}) "
               f"VALUES ({', '.join([self.placeholder] * len(names))})")
        if keys is None:
            return sql
        updates = [n for n in names if n not in keys]
        target = ", ".join(map(quote_identifier, keys))
        if not updates:
            return f"{sql} ON CONFLICT ({target}) DO NOTHING"
        sets = ", ".join(f"{quote_identifier(n)} = EXCLUDED.{quote_identifier(n)}" for n in updates)
        return f"{sql} ON CONFLICT ({target}) DO UPDATE SET {sets}"

    def delete(self, table: str, keys: list[str]) -> str:
        condition = " AND ".join(f"{quote_identifier(k)} = {self.placeholder}" for k in keys)
        return f"DELETE FROM {quote_identifier(table)} WHERE {condition}"

    def select(self, table: str, column: Optional[str], limit: int) -> str:
        """The rows of `table`, those after a parameter in `column` in its order when given."""
        sql = f"SELECT * FROM {quote_identifier(table)}"
        if column is not None:
            sql += f" WHERE {quote_identifier(column)} > {self.placeholder} ORDER BY {quote_identifier(column)}"
        return sql + f" LIMIT {int(limit)}"


_PG_TYPES = {"BOOLEAN": "BOOLEAN", "INTEGER": "INTEGER", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE PRECISION",
             "STRING": "TEXT", "BYTES": "BYTEA", "DATE": "DATE", "TIME": "TIME", "TIMESTAMP": "TIMESTAMP"}
_SQLITE_TYPES = {"BOOLEAN": "INTEGER", "INTEGER": "INTEGER", "BIGINT": "INTEGER", "DOUBLE": "REAL",
                 "STRING": "TEXT", "BYTES": "BLOB", "DATE": "TEXT", "TIME": "TEXT", "TIMESTAMP": "TEXT"}
_DUCKDB_TYPES = {"BOOLEAN": "BOOLEAN", "INTEGER": "INTEGER", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE",
                 "STRING": "VARCHAR", "BYTES": "BLOB", "DATE": "DATE", "TIME": "TIME", "TIMESTAMP": "TIMESTAMP"}


def dialect_for(config: dict[str, str], context: WorkerContext) -> Dialect:
    url = (config.get("connection.url") or "").strip()
    if not url:
        raise ConnectError(400, 'Missing required configuration "connection.url" which has no default value.')
    if url.startswith("jdbc:postgresql:"):
        return Dialect("postgresql", "%s", _PG_TYPES, "JSONB", _postgres_connect(url, config))
    if url.startswith("jdbc:sqlite:"):
        path = context.allowed_path(url.removeprefix("jdbc:sqlite:"), "SQLite database file")
        return Dialect("sqlite", "?", _SQLITE_TYPES, "TEXT", lambda: _sqlite_connect(path))
    if url.startswith("jdbc:duckdb:"):
        path = context.allowed_path(url.removeprefix("jdbc:duckdb:"), "DuckDB database file")
        return Dialect("duckdb", "?", _DUCKDB_TYPES, "VARCHAR", lambda: _duckdb_connect(path))
    raise ConnectError(400, f"Unsupported connection.url {url.split('?')[0]!r}: the embedded JDBC connectors "
                            "reach jdbc:postgresql://, jdbc:sqlite: and jdbc:duckdb: databases.")


def _postgres_connect(url: str, config: dict[str, str]) -> Callable[[], Any]:
    parts = urlsplit(url.removeprefix("jdbc:"))
    parameters: dict[str, Any] = {"dbname": unquote(parts.path.lstrip("/")) or "postgres"}
    if parts.hostname:
        parameters["host"] = parts.hostname
    if parts.port:
        parameters["port"] = parts.port
    for key, value in parse_qsl(parts.query):
        if key in _PG_PARAMETERS:
            parameters[key] = value
    if config.get("connection.user"):
        parameters["user"] = config["connection.user"]
    if config.get("connection.password"):
        parameters["password"] = config["connection.password"]

    def connect():
        try:
            import psycopg
        except ImportError:
            raise ConnectError(500, "PostgreSQL needs psycopg: pip install 'pyksqlite[connect]'") from None
        return psycopg.connect(**parameters)     # keyword parameters: nothing is parsed from text
    return connect


def _sqlite_connect(path):
    import sqlite3
    return sqlite3.connect(path, check_same_thread=False)


def _duckdb_connect(path):
    from pyksqlite.common.duck import open_database_file
    return open_database_file(str(path))
