"""INSERT VALUES: the parse cache by statement shape, one append for statements sent together,
the one-row JSON encoding, and the push query rows they feed (null values, tombstones)."""
from __future__ import annotations

import threading
import time

import pyarrow as pa
import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException
from pyksqlite.facade.insert_values import InsertShapeCache
from pyksqlite.common.schema import Column
from pyksqlite.serde import json_rows
from pyksqlite.serde.json_format import JsonSerde
from pyksqlite.common import types as T
from pyksqlite.runtime.wakeup import AppendSignal
from pyksqlite.grammar.parser import parse_statement

STREAM = ("CREATE STREAM s (id BIGINT KEY, name STRING, score DOUBLE, n INT, ok BOOLEAN) "
          "WITH (kafka_topic='s', partitions=1, value_format='JSON');")


@pytest.fixture
def engine(tmp_path):
    engine = Engine(tmp_path / "data", properties={"ksqlite.log.flush": "none"})
    yield engine
    engine.close()


def _parsed(text: str):
    return parse_statement(text + ";", client_statements=False)


@pytest.mark.parametrize("values", [
    "(1, 'a', 1.5, 2, TRUE)", "(-5, 'it''s, ok', -1e3, -7, false)", "(NULL, '', .5, 0, NULL)",
    "(9223372036854775807, 'x', 1., 1, true)", "(3, 'values (1)', 2E-3, 3, FALSE)"])
def test_a_learned_shape_gives_what_the_parser_gives(values):
    cache = InsertShapeCache()
    first = "INSERT INTO s (id, name, score, n, ok) VALUES (0, 'z', 0.0, 0, TRUE)"
    cache.learn(first, _parsed(first))
    text = f"INSERT INTO s (id, name, score, n, ok) VALUES {values}"
    assert cache.parse(text) == _parsed(text)
    assert cache.parse(text).text == _parsed(text).text


@pytest.mark.parametrize("text", [
    "INSERT INTO s (id, name, score, n, ok) VALUES (1 + 1, 'a', 1.5, 2, TRUE)",
    "INSERT INTO s (id, name, score, n, ok) VALUES (1, UCASE('a'), 1.5, 2, TRUE)",
    "INSERT INTO s (id, name, score, n, ok) VALUES (1, 'a', 1.5, 2, TRUE) -- a comment",
    "INSERT INTO s (id, name, score, n, ok) VALUES (99999999999999999999, 'a', 1.5, 2, TRUE)",
    "INSERT INTO t (id, name, score, n, ok) VALUES (1, 'a', 1.5, 2, TRUE)"])
def test_anything_but_plain_literals_of_a_learned_shape_goes_to_the_parser(text):
    cache = InsertShapeCache()
    first = "INSERT INTO s (id, name, score, n, ok) VALUES (0, 'z', 0.0, 0, TRUE)"
    cache.learn(first, _parsed(first))
    assert cache.parse(text) is None


def test_statements_sent_together_are_all_written_in_order(engine):
    engine.execute(STREAM)
    sql = "".join(f"INSERT INTO s (id, name, score, n, ok) VALUES ({i}, 'n{i}', {i}.5, {i}, TRUE);"
                  for i in range(50))
    results = engine.execute(sql)
    assert [r.entity["commandStatus"]["message"] for r in results] == ["Inserted 1 row"] * 50
    records = engine.read_topic_records("s")
    assert [(r.key, r.value["NAME"], r.value["SCORE"], r.offset) for r in records] == \
        [(i, f"n{i}", i + 0.5, i) for i in range(50)]


def test_a_failing_insert_keeps_the_rows_before_it_and_says_which_failed(engine):
    engine.execute(STREAM)
    sql = ("INSERT INTO s (id, name) VALUES (1, 'a');INSERT INTO s (id, name) VALUES (2, 'b');"
           "INSERT INTO s (id, nope) VALUES (3, 'c');INSERT INTO s (id, name) VALUES (4, 'd');")
    with pytest.raises(KsqlException) as failure:
        engine.execute(sql)
    assert failure.value.message == "Column name NOPE does not exist."
    assert failure.value.statement_text == "INSERT INTO s (id, nope) VALUES (3, 'c')"
    assert [r.statement_text for r in failure.value.results] == [
        "INSERT INTO s (id, name) VALUES (1, 'a')", "INSERT INTO s (id, name) VALUES (2, 'b')"]
    assert [r.key for r in engine.read_topic_records("s")] == [1, 2]


def test_inserts_before_a_statement_that_does_not_parse_are_written(engine):
    engine.execute(STREAM)
    with pytest.raises(KsqlException):
        engine.execute("INSERT INTO s (id, name) VALUES (1, 'a'); SELEC oops;")
    assert [r.key for r in engine.read_topic_records("s")] == [1]


@pytest.mark.parametrize("sql, message", [
    ("INSERT INTO s (id, name) VALUES (1);", "Failed to prepare statement: Expected number columns and values to match: 2, 1"),
    ("INSERT INTO s (id, name) VALUES (FOO.bar, 'x');", "Failed to prepare statement: 'FOO' is not a valid stream/table name or alias."),
    ("INSERT INTO s (id, name, ROWPARTITION) VALUES (1, 'x', 5);", "Inserting into column `ROWPARTITION` is not allowed."),
    ("INSERT INTO s (id, name, ROWOFFSET) VALUES (1, 'x', 5);", "Inserting into column `ROWOFFSET` is not allowed."),
])
def test_insert_values_errors_read_as_ksqldb_words_them(engine, sql, message):
    engine.execute(STREAM)
    with pytest.raises(KsqlException) as failure:
        engine.execute(sql)
    assert failure.value.message == message


def test_one_row_json_encoding_is_byte_for_byte_the_serdes():
    columns = [Column("S", T.STRING), Column("D", T.DOUBLE), Column("I", T.INTEGER),
               Column("B", T.BIGINT), Column("Z", T.BOOLEAN)]
    serde = JsonSerde(columns, wrapped=True)
    rows = [{"S": "é \"q\" \\ \n \x00 😀", "D": 0.1, "I": -2 ** 31, "B": 2 ** 63 - 1, "Z": True},
            {"S": None, "D": -0.0, "I": None, "B": 0, "Z": None},
            {"S": "", "D": 123456789.125, "I": 7, "B": -1, "Z": False}]
    table = pa.table({c.name: pa.array([r[c.name] for r in rows], T.to_arrow(c.type)) for c in columns})
    assert json_rows.encode_rows(serde, rows).to_pylist() == serde.serialize(table).to_pylist()


@pytest.mark.parametrize("value", [1e20, 1e-7, float("nan"), float("inf"), 5])
def test_doubles_duckdb_writes_differently_are_left_to_the_serde(value):
    serde = JsonSerde([Column("D", T.DOUBLE)], wrapped=True)
    assert json_rows.encode_rows(serde, [{"D": value}]) is None


def test_unwrapped_json_values_and_nulls():
    serde = JsonSerde([Column("K", T.STRING)], wrapped=False)
    rows = [{"K": "a"}, {"K": None}]
    table = pa.table({"K": pa.array(["a", None], pa.string())})
    assert json_rows.encode_rows(serde, rows).to_pylist() == serde.serialize(table).to_pylist()


def test_a_stream_push_query_skips_null_values_and_a_table_tombstone_keeps_its_key(engine):
    engine.execute("CREATE STREAM i (k INT KEY, id INT) WITH (kafka_topic='i', partitions=1, value_format='JSON');"
                   "CREATE TABLE t (k INT PRIMARY KEY, id INT) WITH (kafka_topic='t', partitions=1, value_format='JSON');")
    for topic in ("i", "t"):
        engine.produce_test_records([TestRecord(topic, 10, {"id": 110}, 1), TestRecord(topic, 10, None, 2),
                                     TestRecord(topic, 11, {"id": 111}, 3)])
    earliest = {"auto.offset.reset": "earliest"}
    stream = engine.push_query("SELECT * FROM i EMIT CHANGES LIMIT 2;", earliest)
    assert [(r.values, r.tombstone) for r in stream] == [([10, 110], False), ([11, 111], False)]
    stream.close()
    table = engine.push_query("SELECT * FROM t EMIT CHANGES LIMIT 3;", earliest)
    assert [(r.values, r.tombstone) for r in table] == [([10, 110], False), ([10, None], True), ([11, 111], False)]
    table.close()


def test_a_persistent_table_still_writes_a_tombstone_as_a_null_value(engine):
    engine.execute("CREATE TABLE t (k INT PRIMARY KEY, id INT) WITH (kafka_topic='t', partitions=1, value_format='JSON');"
                   "CREATE TABLE t2 AS SELECT k, id, AS_VALUE(k) AS k_copy FROM t;")
    engine.produce_test_records([TestRecord("t", 10, {"id": 110}, 1), TestRecord("t", 10, None, 2)])
    engine.run_until_idle()
    assert [(r.key, r.value) for r in engine.read_topic_records("T2")] == \
        [(10, {"ID": 110, "K_COPY": 10}), (10, None)]


def test_an_insert_wakes_a_waiting_push_query(engine):
    engine.execute(STREAM)
    query = engine.push_query("SELECT id FROM s EMIT CHANGES LIMIT 1;")
    time.sleep(0.1)
    engine.execute("INSERT INTO s (id, name) VALUES (7, 'x');")
    assert [r.values for r in query] == [[7]]
    query.close()


def test_the_append_signal_wakes_a_waiter_and_never_misses_an_earlier_append():
    signal = AppendSignal()
    seen = signal.generation
    signal.notify()
    assert signal.wait(seen, timeout=5)          # appended after `seen`: no wait at all
    seen = signal.generation
    assert not signal.wait(seen, timeout=0.01)   # nothing new: times out
    woken = []
    waiter = threading.Thread(target=lambda: woken.append(signal.wait(seen, timeout=5)))
    waiter.start()
    signal.notify()
    waiter.join(5)
    assert woken == [True]
