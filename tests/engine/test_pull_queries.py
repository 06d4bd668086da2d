"""Pull queries through the engine: what rows come back, in which order, and ksqlDB's errors."""
from __future__ import annotations

import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException
from pyksqlite.log.partitioner import partition_for_key


@pytest.fixture
def engine(tmp_path):
    engine = Engine(tmp_path / "data")
    yield engine
    engine.close()


def _users(engine: Engine, partitions: int = 4) -> None:
    engine.execute("CREATE TABLE users (id STRING PRIMARY KEY, name STRING, n INT) "
                   f"WITH (kafka_topic='users', value_format='JSON', partitions={partitions});")
    engine.execute("CREATE TABLE users_view AS SELECT * FROM users;")


def _insert(engine: Engine, rows: list[tuple[str, str, int]]) -> None:
    for key, name, n in rows:
        engine.execute(f"INSERT INTO users (id, name, n) VALUES ('{key}', '{name}', {n});")
    engine.run_until_idle()
    assert engine.caught_up()


def test_table_scan_is_ordered_by_partition_then_key_bytes(engine):
    _users(engine)
    keys = ["16", "10", "12", "11", "14", "13"]
    _insert(engine, [(k, f"n{k}", int(k)) for k in keys])
    rows = engine.pull_query("SELECT id FROM users_view;").rows
    expected = sorted(keys, key=lambda k: (partition_for_key(k.encode(), 4), k.encode()))
    assert [r[0] for r in rows] == expected


def test_latest_value_per_key_and_tombstones_removed(engine):
    _users(engine, partitions=1)
    _insert(engine, [("a", "x", 1), ("b", "y", 2), ("a", "z", 3)])
    engine.produce_test_records([TestRecord("users", "b", None, 10)])
    engine.run_until_idle()
    assert engine.pull_query("SELECT * FROM users_view;").rows == [["a", "z", 3]]


def test_in_key_lookup_answers_in_list_order(engine):
    _users(engine)
    _insert(engine, [("8", "a", 1), ("10", "b", 2)])
    rows = engine.pull_query("SELECT id FROM users_view WHERE id IN ('10', '8');").rows
    assert rows == [["10"], ["8"]]


def test_pull_query_on_a_stream_is_flagged_and_reports_limit(engine):
    engine.execute("CREATE STREAM s (k INT KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    for i in range(3):
        engine.execute(f"INSERT INTO s (k, v) VALUES ({i}, {i * 10});")
    result = engine.pull_query("SELECT * FROM s LIMIT 2;")
    assert result.on_stream and result.limit_reached
    assert result.rows == [[0, 0], [1, 10]]
    assert not engine.pull_query("SELECT * FROM s;").limit_reached


@pytest.mark.parametrize("sql, message", [
    ("SELECT * FROM users_view u JOIN users_view v ON u.id = v.id;", "Pull queries don't support JOIN clauses."),
    ("SELECT id, COUNT(*) FROM users_view GROUP BY id;",
     "Pull queries don't support GROUP BY clauses. See https://cnfl.io/queries for more info.\n"
     "Add EMIT CHANGES if you intended to issue a push query."),
    ("SELECT * FROM users;", "The `USERS` table isn't queryable. To derive a queryable table, you can do "
                             "'CREATE TABLE QUERYABLE_USERS AS SELECT * FROM USERS'."),
    ("SELECT id, ROWPARTITION FROM users_view;",
     "Pull queries don't support the following columns in SELECT clauses: `ROWPARTITION`"),
    ("SELECT id FROM users_view WHERE ROWOFFSET > 1;",
     "Pull queries don't support the following columns in WHERE clauses: `ROWOFFSET`"),
    ("SELECT * FROM users_view WHERE id = 11;",
     "Error in WHERE expression: Cannot compare ID (STRING) to 11 (INTEGER) with EQUAL.\nStatement: (ID = 11)"),
])
def test_unsupported_pull_queries_fail_with_ksqldb_messages(engine, sql, message):
    _users(engine, partitions=1)
    with pytest.raises(KsqlException) as failure:
        engine.pull_query(sql)
    assert message in failure.value.message


@pytest.mark.parametrize("where, message", [
    ("n = 100", "WHERE clause missing key column for disjunct: (N = 100)"),
    ("id != 'a'", "Bound on key columns '[`ID` STRING KEY]' must currently be '='. "),
    ("id = name", "A comparison must be between a key column and a resolvable expression."),
    ("id = 'a' AND id IN ('a', 'b')", "A comparison condition on the key column cannot be combined"),
    ("id <= 'a' OR id >= 'c'", "Query requires table scan to be enabled"),
    ("'a' LIKE 'a'", "Like condition must be between strings"),
])
def test_key_lookups_only_without_table_scans(engine, where, message):
    _users(engine, partitions=1)
    properties = {"ksql.query.pull.table.scan.enabled": False}
    with pytest.raises(KsqlException) as failure:
        engine.pull_query(f"SELECT * FROM users_view WHERE {where};", properties)
    assert message in failure.value.message


def test_key_lookup_and_string_range_work_without_table_scans(engine):
    _users(engine, partitions=1)
    _insert(engine, [("a", "x", 1), ("b", "y", 2), ("c", "z", 3)])
    properties = {"ksql.query.pull.table.scan.enabled": False}
    assert engine.pull_query("SELECT id FROM users_view WHERE id = 'b' AND n > 1;", properties).rows == [["b"]]
    assert engine.pull_query("SELECT id FROM users_view WHERE id <= 'b';", properties).rows == [["a"], ["b"]]
