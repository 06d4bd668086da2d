"""Table functions (EXPLODE, CUBE_EXPLODE) end to end: flattening, zipping, keys, timestamps, rules."""
from __future__ import annotations

import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException


@pytest.fixture
def engine(tmp_path):
    e = Engine(tmp_path, {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"})
    e.create_topic("input")
    yield e
    e.close()


def records(engine, topic):
    return [(r.key, r.value, r.timestamp) for r in engine.read_topic_records(topic)]


def test_explode_keeps_key_and_timestamp_and_applies_where(engine):
    engine.execute("CREATE STREAM s (id STRING KEY, n INT, arr ARRAY<BIGINT>) "
                   "WITH (kafka_topic='input', value_format='JSON');")
    engine.execute("CREATE STREAM o AS SELECT id, n, EXPLODE(arr) AS v FROM s WHERE n <> 1;")
    engine.produce_test_records([
        TestRecord("input", "a", {"n": 0, "arr": [1, 2]}, timestamp=10),
        TestRecord("input", "b", {"n": 1, "arr": [3]}, timestamp=20),
        TestRecord("input", "c", {"n": 2, "arr": []}, timestamp=30),
        TestRecord("input", "d", {"n": 3, "arr": None}, timestamp=40),
        TestRecord("input", "e", None, timestamp=50),
        TestRecord("input", "f", {"n": 5, "arr": [9]}, timestamp=60),
    ])
    engine.run_until_idle()
    assert records(engine, "O") == [("a", {"N": 0, "V": 1}, 10), ("a", {"N": 0, "V": 2}, 10),
                                    ("f", {"N": 5, "V": 9}, 60)]


def test_several_table_functions_zip_with_nulls(engine):
    engine.execute("CREATE STREAM s (id STRING KEY, a ARRAY<INT>, b ARRAY<STRING>) "
                   "WITH (kafka_topic='input', value_format='JSON');")
    engine.execute("CREATE STREAM o AS SELECT id, EXPLODE(a), ABS(EXPLODE(a)) AS x, EXPLODE(b) FROM s;")
    engine.produce_test_records([TestRecord("input", "k", {"a": [1, -2], "b": ["x", "y", "z"]})])
    engine.run_until_idle()
    assert [v for _, v, _ in records(engine, "O")] == [
        {"KSQL_COL_0": 1, "X": 1, "KSQL_COL_1": "x"},
        {"KSQL_COL_0": -2, "X": 2, "KSQL_COL_1": "y"},
        {"KSQL_COL_0": None, "X": None, "KSQL_COL_1": "z"}]


def test_explode_struct_with_dereference_and_cube_explode(engine):
    engine.execute("CREATE STREAM s (id STRING KEY, arr ARRAY<STRUCT<F1 BIGINT>>, c1 INT, c2 INT) "
                   "WITH (kafka_topic='input', value_format='JSON');")
    engine.execute("CREATE STREAM o AS SELECT id, EXPLODE(arr)->F1 AS v FROM s;")
    engine.execute("CREATE STREAM c AS SELECT id, CUBE_EXPLODE(ARRAY[c1, c2]) AS v FROM s;")
    engine.produce_test_records([TestRecord("input", "k", {"arr": [{"F1": 1}, {"F1": 2}], "c1": 1, "c2": None})])
    engine.run_until_idle()
    assert [v for _, v, _ in records(engine, "O")] == [{"V": 1}, {"V": 2}]
    assert [v for _, v, _ in records(engine, "C")] == [{"V": [None, None]}, {"V": [1, None]}]


@pytest.mark.parametrize("statement, message", [
    ("CREATE TABLE o AS SELECT k, EXPLODE(arr) FROM t;", "Table source is not supported with table functions"),
    ("CREATE TABLE o AS SELECT id, EXPLODE(arr), COUNT(*) FROM s GROUP BY id;",
     "Table functions cannot be used with aggregations."),
    ("CREATE STREAM o AS SELECT id, EXPLODE(m) FROM s;",
     "Function 'explode' does not accept parameters (MAP<STRING, INTEGER>).\nValid alternatives are:"),
    ("CREATE STREAM o AS SELECT id FROM s WHERE EXPLODE(arr) = 1;", "can only be used in the SELECT clause"),
])
def test_table_function_rules(engine, statement, message):
    engine.execute("CREATE STREAM s (id STRING KEY, arr ARRAY<INT>, m MAP<STRING, INT>) "
                   "WITH (kafka_topic='input', value_format='JSON');")
    engine.execute("CREATE TABLE t (k STRING PRIMARY KEY, arr ARRAY<INT>) "
                   "WITH (kafka_topic='input', value_format='JSON');")
    with pytest.raises(KsqlException) as error:
        engine.execute(statement)
    assert message in str(error.value)


def test_explain_shows_the_flatten_step(engine):
    engine.execute("CREATE STREAM s (id STRING KEY, arr ARRAY<INT>) WITH (kafka_topic='input', value_format='JSON');")
    engine.execute("CREATE STREAM o AS SELECT id, EXPLODE(arr) AS v FROM s;")
    plan = engine.explain_query("CSAS_O_0")
    assert "FLATTEN EXPLODE(ARR) AS __tf0" in plan
