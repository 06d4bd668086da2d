"""The embedded JDBC connectors on real databases: SQLite and DuckDB files, and a real PostgreSQL
server (KSQLITE_TEST_POSTGRES, a JDBC URL: `scripts/postgres.sh up` prints one; skipped without
it, a failure when KSQLITE_REQUIRE_POSTGRES is set, as in CI)."""
from __future__ import annotations

import os
import sqlite3
import uuid

import pytest

from pyksqlite.common.errors import KsqlException
from tests.connect.conftest import restart

POSTGRES = os.environ.get("KSQLITE_TEST_POSTGRES", "")


def _postgres_url():
    if not POSTGRES:
        if os.environ.get("KSQLITE_REQUIRE_POSTGRES"):
            pytest.fail("KSQLITE_REQUIRE_POSTGRES is set but KSQLITE_TEST_POSTGRES is not")
        pytest.skip("needs PostgreSQL: run `scripts/postgres.sh up` and set KSQLITE_TEST_POSTGRES to the URL it prints")
    pytest.importorskip("psycopg", reason="the `connect` extra (psycopg) is not installed")
    return POSTGRES


class Database:
    """One database of a kind, read back with its own driver."""

    def __init__(self, kind, tmp_path):
        self.kind = kind
        if kind == "sqlite":
            self.url = f"jdbc:sqlite:{tmp_path / 'db.sqlite'}"
        elif kind == "duckdb":
            self.url = f"jdbc:duckdb:{tmp_path / 'db.duckdb'}"
        else:
            self.url = _postgres_url()

    def _connect(self):
        if self.kind == "sqlite":
            return sqlite3.connect(self.url.removeprefix("jdbc:sqlite:"))
        if self.kind == "duckdb":   # in this process, the same database file opens with one config
            from pyksqlite.common.duck import open_database_file
            return open_database_file(self.url.removeprefix("jdbc:duckdb:"))
        import psycopg
        return psycopg.connect(host="127.0.0.1", port=int(self.url.split(":")[3].split("/")[0]),
                               dbname="postgres", user="postgres")

    def rows(self, table: str, order: str):
        connection = self._connect()
        try:
            quoted = '"' + table.replace('"', '""') + '"'
            return sorted(tuple(row) for row in connection.execute(f"SELECT * FROM {quoted}").fetchall())
        finally:
            connection.close()

    def execute(self, sql: str, rows=()):
        connection = self._connect()
        try:
            placeholder = "%s" if self.kind == "postgresql" else "?"
            if rows:
                cursor = connection.cursor()
                cursor.executemany(sql.replace("?", placeholder), rows)
            else:
                connection.execute(sql)
            connection.commit()
        finally:
            connection.close()


@pytest.fixture(params=["sqlite", "duckdb", "postgresql"])
def database(request, tmp_path):
    return Database(request.param, tmp_path)


def _sink(name, url, topic, extra=""):
    return (f"CREATE SINK CONNECTOR {name} WITH ('connector.class'='io.confluent.connect.jdbc.JdbcSinkConnector', "
            f"'connection.url'='{url}', 'topics'='{topic}', 'insert.mode'='upsert', 'pk.mode'='record_key', "
            f"'auto.create'='true', 'delete.enabled'='true'{extra});")


def test_a_table_changelog_keeps_a_database_table_in_sync(make_engine, database):
    engine = make_engine()
    table = f"totals_{uuid.uuid4().hex[:8]}"
    engine.execute("""
        CREATE STREAM orders (id INT KEY, customer STRING, amount DOUBLE)
          WITH (kafka_topic='orders', value_format='JSON', partitions=2);
        CREATE TABLE per_customer AS SELECT customer, COUNT(*) AS n, SUM(amount) AS total
          FROM orders GROUP BY customer;
        INSERT INTO orders (id, customer, amount) VALUES (1, 'alice', 10.0);
        INSERT INTO orders (id, customer, amount) VALUES (2, 'bob', 5.5);
        INSERT INTO orders (id, customer, amount) VALUES (3, 'alice', 2.5);""")
    engine.execute(_sink("sync", database.url, "PER_CUSTOMER", f", 'table.name.format'='{table}'"))
    engine.run_until_idle(timeout=30)
    assert database.rows(table, "CUSTOMER") == [("alice", 2, 12.5), ("bob", 1, 5.5)]
    engine.execute("INSERT INTO orders (id, customer, amount) VALUES (4, 'bob', 1.0);")
    engine.run_until_idle(timeout=30)
    assert database.rows(table, "CUSTOMER") == [("alice", 2, 12.5), ("bob", 2, 6.5)]
    status = engine.execute("DESCRIBE CONNECTOR sync;")[0].entity["status"]
    assert status["tasks"][0]["state"] == "RUNNING"


def test_tombstones_delete_and_the_last_record_of_a_batch_wins(make_engine, database):
    engine = make_engine()
    table = f"users_{uuid.uuid4().hex[:8]}"
    engine.execute("""
        CREATE TABLE users (id STRING PRIMARY KEY, name STRING, tags ARRAY<STRING>)
          WITH (kafka_topic='users', value_format='JSON', partitions=1);
        INSERT INTO users (id, name, tags) VALUES ('a', 'first', ARRAY['x', 'y']);
        INSERT INTO users (id, name) VALUES ('b', 'bee');
        INSERT INTO users (id, name) VALUES ('a', 'second');""")
    _tombstone(engine, "users", b"b")
    engine.execute(_sink("s", database.url, "users", f", 'table.name.format'='{table}'"))
    engine.run_until_idle(timeout=30)
    assert database.rows(table, "id") == [("a", "second", None)]
    _tombstone(engine, "users", b"a")
    engine.execute("INSERT INTO users (id, name) VALUES ('b', 'back');")
    engine.run_until_idle(timeout=30)
    assert database.rows(table, "id") == [("b", "back", None)]


def _tombstone(engine, topic, key: bytes):
    import pyarrow as pa
    from pyksqlite.log.api import HEADER_TYPE
    engine.log.append(topic, pa.table({"key": pa.array([key]), "value": pa.array([None], pa.binary()),
                                       "timestamp": pa.array([1], pa.int64()), "headers": pa.nulls(1, HEADER_TYPE)}))


def test_hostile_names_are_quoted_and_values_bound(make_engine, database):
    engine = make_engine()
    table = 'x"; DROP TABLE victims; --' + uuid.uuid4().hex[:6]
    database.execute('CREATE TABLE "victims" (a INT)') if database.kind != "postgresql" else \
        database.execute('CREATE TABLE IF NOT EXISTS "victims" (a INT)')
    engine.execute("""
        CREATE STREAM s (`k"ey` STRING KEY, `va'l"ue` STRING)
          WITH (kafka_topic='s', value_format='JSON', partitions=1);
        INSERT INTO s (`k"ey`, `va'l"ue`) VALUES ('1', 'Robert''); DROP TABLE victims; --');""")
    engine.execute(_sink("evil", database.url, "s", f", 'table.name.format'='{table.replace(chr(39), chr(39) * 2)}'")
                   .replace("'insert.mode'='upsert', ", "").replace(", 'delete.enabled'='true'", ""))
    engine.run_until_idle(timeout=30)
    assert database.rows(table, 'k"ey') == [("1", "Robert'); DROP TABLE victims; --")]
    assert database.rows("victims", "a") == []


def test_insert_mode_appends_every_record_with_kafka_coordinates(make_engine, tmp_path):
    engine = make_engine()
    engine.execute("""
        CREATE STREAM events (id INT KEY, what STRING) WITH (kafka_topic='events', value_format='JSON', partitions=1);
        INSERT INTO events (id, what) VALUES (1, 'a');
        INSERT INTO events (id, what) VALUES (1, 'b');""")
    url = f"jdbc:sqlite:{tmp_path / 'e.db'}"
    engine.execute(f"CREATE SINK CONNECTOR e WITH ('connector.class'='JdbcSinkConnector', 'connection.url'='{url}', "
                   "'topics'='events', 'pk.mode'='kafka', 'auto.create'='true');")
    engine.run_until_idle(timeout=30)
    rows = sqlite3.connect(tmp_path / "e.db").execute('SELECT * FROM "events" ORDER BY 3').fetchall()
    assert rows == [("events", 0, 0, "a"), ("events", 0, 1, "b")]


@pytest.mark.parametrize("config, message", [
    ("'insert.mode'='upsert'", "insert.mode=upsert needs a primary key"),
    ("'delete.enabled'='true', 'pk.mode'='kafka'", "Deletes are only supported for pk.mode record_key"),
    ("'pk.mode'='record_value'", "pk.mode=record_value needs pk.fields"),
])
def test_sink_configs_kafka_connect_refuses_are_refused(make_engine, tmp_path, config, message):
    with pytest.raises(KsqlException, match=message):
        make_engine().execute(f"CREATE SINK CONNECTOR s WITH ('connector.class'='JdbcSinkConnector', "
                              f"'connection.url'='jdbc:sqlite:{tmp_path / 'x.db'}', 'topics'='t', {config});")


def test_database_files_outside_the_allowed_dirs_are_refused(make_engine):
    with pytest.raises(KsqlException, match="outside the directories connectors may use"):
        make_engine().execute("CREATE SINK CONNECTOR s WITH ('connector.class'='JdbcSinkConnector', "
                              "'connection.url'='jdbc:sqlite:/etc/x.db', 'topics'='t');")


def test_jdbc_source_incrementing_resumes_after_a_restart(make_engine, database):
    table = f"items_{uuid.uuid4().hex[:8]}"
    database.execute(f'CREATE TABLE "{table}" (id INT PRIMARY KEY, "na""me" VARCHAR(20))')
    database.execute(f'INSERT INTO "{table}" VALUES (?, ?)', [(1, "a"), (2, "b")])
    engine = make_engine()
    engine.execute(f"CREATE SOURCE CONNECTOR src WITH ('connector.class'='JdbcSourceConnector', "
                   f"'connection.url'='{database.url}', 'mode'='incrementing', 'incrementing.column.name'='id', "
                   f"'table.whitelist'='{table}', 'topic.prefix'='db-', 'poll.interval.ms'=0);")
    engine.run_until_idle(timeout=30)
    assert engine.log.end_offsets(f"db-{table}")[0] == 2
    engine = restart(engine, make_engine)
    database.execute(f'INSERT INTO "{table}" VALUES (?, ?)', [(3, "c")])
    engine.run_until_idle(timeout=30)
    import orjson
    values = [orjson.loads(v) for v in engine.log.read(f"db-{table}", 0, 0).column("value").to_pylist()]
    assert values == [{"id": 1, 'na"me': "a"}, {"id": 2, 'na"me': "b"}, {"id": 3, 'na"me': "c"}]


def test_jdbc_source_bulk_and_a_stream_on_its_topic(make_engine, tmp_path):
    path = tmp_path / "src.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE products (id INTEGER, name TEXT, price REAL)")
    connection.executemany("INSERT INTO products VALUES (?, ?, ?)", [(1, "pen", 1.5), (2, "ink", 3.0)])
    connection.commit()
    engine = make_engine()
    engine.execute(f"CREATE SOURCE CONNECTOR src WITH ('connector.class'='JdbcSourceConnector', "
                   f"'connection.url'='jdbc:sqlite:{path}', 'mode'='bulk', 'table.whitelist'='products', "
                   "'topic.prefix'='jdbc_', 'poll.interval.ms'=3600000);"
                   "CREATE STREAM products (id BIGINT, name STRING, price DOUBLE) "
                   "WITH (kafka_topic='jdbc_products', value_format='JSON');"
                   "CREATE TABLE by_name AS SELECT name, SUM(price) AS total FROM products GROUP BY name;")
    engine.run_until_idle(timeout=30)
    assert sorted(engine.pull_query("SELECT * FROM by_name;").rows) == [["ink", 3.0], ["pen", 1.5]]
