"""End-to-end stateless queries on the real engine and the real embedded log."""
from __future__ import annotations

import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException


@pytest.fixture
def engine(tmp_path):
    e = Engine(tmp_path, {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"})
    yield e
    e.close()


def values(engine, topic):
    return [(r.key, r.value) for r in engine.read_topic_records(topic)]


def test_filter_and_project_json(engine):
    engine.create_topic("input")
    engine.execute("CREATE STREAM s (id INT KEY, name STRING, amount DOUBLE) "
                   "WITH (kafka_topic='input', value_format='JSON');")
    engine.execute("CREATE STREAM big AS SELECT id, UCASE(name) AS name, amount * 2 AS twice "
                   "FROM s WHERE amount > 10;")
    engine.produce_test_records([
        TestRecord("input", 1, {"name": "a", "amount": 5.0}),
        TestRecord("input", 2, {"NAME": "b", "AMOUNT": 50.0}),
        TestRecord("input", 3, {"name": "c", "amount": 11}),
    ])
    engine.run_until_idle()
    assert values(engine, "BIG") == [(2, {"NAME": "B", "TWICE": 100.0}), (3, {"NAME": "C", "TWICE": 22.0})]


def test_partition_by_rekeys(engine):
    engine.create_topic("input")
    engine.execute("CREATE STREAM s (id INT KEY, name STRING) WITH (kafka_topic='input', value_format='JSON');")
    engine.execute("CREATE STREAM by_name AS SELECT * FROM s PARTITION BY name;")
    engine.produce_test_records([TestRecord("input", 1, {"name": "x"})])
    engine.run_until_idle()
    assert values(engine, "BY_NAME") == [("x", {"ID": 1})]


def test_table_filter_emits_tombstone(engine):
    engine.create_topic("t")
    engine.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT) WITH (kafka_topic='t', value_format='JSON');")
    engine.execute("CREATE TABLE big AS SELECT id, v FROM t WHERE v > 5;")
    engine.produce_test_records([TestRecord("t", 1, {"v": 10}), TestRecord("t", 1, {"v": 1}),
                                 TestRecord("t", 2, None)])
    engine.run_until_idle()
    assert values(engine, "BIG") == [(1, {"V": 10}), (1, None), (2, None)]


def test_bad_record_is_skipped_and_logged(engine):
    engine.create_topic("input")
    engine.execute("CREATE STREAM s (id INT KEY, n INT) WITH (kafka_topic='input', value_format='JSON');")
    engine.execute("CREATE STREAM out AS SELECT id, n FROM s;")
    engine.produce_test_records([TestRecord("input", 1, "not json{"), TestRecord("input", 2, {"n": 7})])
    engine.run_until_idle()
    assert values(engine, "OUT") == [(2, {"N": 7})]
    assert engine.processing_log()


def test_bad_statement_changes_nothing(engine):
    engine.create_topic("input")
    with pytest.raises(KsqlException):
        engine.execute("CREATE STREAM s (id INT KEY, n INT) WITH (kafka_topic='missing', value_format='JSON');")
    with pytest.raises(KsqlException) as error:
        engine.execute("CREATE STREAM s (id INT KEY, n INT WITH (kafka_topic='input', value_format='JSON');")
    assert "line 1" in error.value.message
    assert engine.catalog.sources == {}


def test_insert_values_and_pull_query(engine):
    engine.execute("CREATE TABLE users (id INT PRIMARY KEY, name STRING) "
                   "WITH (kafka_topic='users', value_format='JSON', partitions=2);")
    engine.execute("INSERT INTO users (id, name) VALUES (1, 'alice');")
    engine.execute("INSERT INTO users (id, name) VALUES (2, 'bob');")
    engine.execute("INSERT INTO users (id, name) VALUES (1, 'alicia');")
    engine.execute("CREATE TABLE users_view AS SELECT * FROM users;")   # plain tables aren't queryable
    engine.run_until_idle()
    result = engine.pull_query("SELECT * FROM users_view WHERE id = 1;")
    assert result.rows == [[1, "alicia"]]


def test_push_query_with_limit(engine):
    engine.execute("CREATE STREAM s (id INT KEY, n INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    query = engine.push_query("SELECT id, n * 10 AS m FROM s EMIT CHANGES LIMIT 2;",
                              {"auto.offset.reset": "earliest"})
    for i in range(3):
        engine.execute(f"INSERT INTO s (id, n) VALUES ({i}, {i});")
    rows = [r.values for r in query]
    query.close()
    assert rows == [[0, 0], [1, 10]]


def test_restart_resumes_queries(tmp_path):
    props = {"ksql.streams.auto.offset.reset": "earliest"}
    first = Engine(tmp_path, props)
    first.execute("CREATE STREAM s (id INT KEY, n INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    first.execute("CREATE STREAM out AS SELECT id, n FROM s WHERE n > 0;")
    first.execute("INSERT INTO s (id, n) VALUES (1, 1);")
    first.run_until_idle()
    first.close()
    second = Engine(tmp_path, props)
    assert "OUT" in second.catalog.sources and second.catalog.queries
    second.execute("INSERT INTO s (id, n) VALUES (2, 2);")
    second.run_until_idle()
    assert [r.key for r in second.read_topic_records("OUT")] == [1, 2]
    second.close()
