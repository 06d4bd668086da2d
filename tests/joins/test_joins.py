"""Joins end to end on the real engine: batches give the same results as one record at a time,
state survives a restart, and the planner's naming and checks."""
from __future__ import annotations

import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException

PROPS = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"}


def values(engine, topic):
    def plain(value):
        if isinstance(value, dict):
            return {k: float(v) if type(v).__name__ == "Decimal" else v for k, v in value.items()}
        return value
    return [(r.key, plain(r.value), r.timestamp) for r in engine.read_topic_records(topic)]


def open_engine(path):
    return Engine(path, dict(PROPS))


STREAM_TABLE = [
    "CREATE STREAM payments (id INT KEY, currency STRING, amount DOUBLE) "
    "WITH (kafka_topic='payments', value_format='JSON');",
    "CREATE TABLE rates (currency STRING PRIMARY KEY, rate DOUBLE) WITH (kafka_topic='rates', value_format='JSON');",
    "CREATE STREAM converted AS SELECT p.id, p.currency, amount * rate AS eur FROM payments p "
    "LEFT JOIN rates r ON p.currency = r.currency;",
]
RECORDS = [
    TestRecord("rates", "USD", {"rate": 0.9}, 0),
    TestRecord("payments", 1, {"currency": "USD", "amount": 10.0}, 10),
    TestRecord("payments", 2, {"currency": "GBP", "amount": 10.0}, 11),
    TestRecord("rates", "USD", {"rate": 0.5}, 20),
    TestRecord("rates", "GBP", {"rate": 2.0}, 21),
    TestRecord("payments", 3, {"currency": "USD", "amount": 10.0}, 30),
    TestRecord("payments", 4, {"currency": "GBP", "amount": 10.0}, 31),
    TestRecord("rates", "GBP", None, 40),
    TestRecord("payments", 5, {"currency": "GBP", "amount": 10.0}, 50),
]
EXPECTED = [("USD", {"ID": 1, "EUR": 9.0}, 10), ("GBP", {"ID": 2, "EUR": None}, 11),
            ("USD", {"ID": 3, "EUR": 5.0}, 30), ("GBP", {"ID": 4, "EUR": 20.0}, 31),
            ("GBP", {"ID": 5, "EUR": None}, 50)]


def _setup(engine):
    engine.create_topic("payments")
    engine.create_topic("rates")
    for statement in STREAM_TABLE:
        engine.execute(statement)


def test_stream_table_one_at_a_time(tmp_path):
    engine = open_engine(tmp_path)
    _setup(engine)
    for record in RECORDS:
        engine.produce_test_records([record])
        engine.run_until_idle()
    assert values(engine, "CONVERTED") == EXPECTED
    engine.close()


def test_stream_table_whole_batch_equals_one_at_a_time(tmp_path):
    engine = open_engine(tmp_path)
    engine.create_topic("payments")
    engine.create_topic("rates")
    for statement in STREAM_TABLE[:2]:
        engine.execute(statement)
    engine.produce_test_records(RECORDS)   # everything is in the log before the query starts
    engine.execute(STREAM_TABLE[2])
    engine.run_until_idle()
    assert values(engine, "CONVERTED") == EXPECTED
    engine.close()


def test_join_state_survives_restart(tmp_path):
    engine = open_engine(tmp_path)
    _setup(engine)
    engine.produce_test_records(RECORDS[:5])
    engine.run_until_idle()
    engine.close()
    engine = open_engine(tmp_path)
    engine.produce_test_records(RECORDS[5:])
    engine.run_until_idle()
    assert values(engine, "CONVERTED")[-3:] == EXPECTED[-3:]
    engine.close()


def test_stream_stream_left_join_with_grace_waits_for_window_close(tmp_path):
    engine = open_engine(tmp_path)
    engine.create_topic("l")
    engine.create_topic("r")
    engine.execute("CREATE STREAM l (id INT KEY, a STRING) WITH (kafka_topic='l', value_format='JSON');")
    engine.execute("CREATE STREAM r (id INT KEY, b STRING) WITH (kafka_topic='r', value_format='JSON');")
    engine.execute("CREATE STREAM j AS SELECT l.id, a, b FROM l LEFT JOIN r WITHIN 10 SECONDS GRACE PERIOD 0 SECONDS "
                   "ON l.id = r.id;")
    for record in [TestRecord("l", 1, {"a": "x"}, 0), TestRecord("l", 2, {"a": "y"}, 1000),
                   TestRecord("r", 2, {"b": "z"}, 5000), TestRecord("l", 3, {"a": "w"}, 20000)]:
        engine.produce_test_records([record])
        engine.run_until_idle()
    assert values(engine, "J") == [(2, {"A": "y", "B": "z"}, 5000), (1, {"A": "x", "B": None}, 0)]
    engine.close()


def test_table_table_outer_join_key_and_tombstones(tmp_path):
    engine = open_engine(tmp_path)
    engine.create_topic("t1")
    engine.create_topic("t2")
    engine.execute("CREATE TABLE t1 (id INT PRIMARY KEY, a STRING) WITH (kafka_topic='t1', value_format='JSON');")
    engine.execute("CREATE TABLE t2 (id INT PRIMARY KEY, b STRING) WITH (kafka_topic='t2', value_format='JSON');")
    engine.execute("CREATE TABLE j AS SELECT ROWKEY, a, b FROM t1 FULL OUTER JOIN t2 ON t1.id = t2.id;")
    for record in [TestRecord("t2", 1, {"b": "x"}, 5), TestRecord("t1", 1, {"a": "y"}, 7),
                   TestRecord("t2", 1, None, 9), TestRecord("t1", 1, None, 11)]:
        engine.produce_test_records([record])
        engine.run_until_idle()
    assert values(engine, "J") == [(1, {"A": None, "B": "x"}, 5), (1, {"A": "y", "B": "x"}, 7),
                                   (1, {"A": "y", "B": None}, 9), (1, None, 11)]
    engine.close()


@pytest.mark.parametrize("statement, message", [
    ("CREATE STREAM o AS SELECT * FROM t1 JOIN s ON t1.id = s.id;", "Invalid join order"),
    ("CREATE STREAM o AS SELECT s.id, a FROM s FULL OUTER JOIN t1 ON s.id = t1.id;", "Invalid join type"),
    ("CREATE STREAM o AS SELECT s.v, a FROM s JOIN t1 ON s.v = t1.a;", "join on the table's primary key"),
    ("CREATE STREAM o AS SELECT a FROM s JOIN t1 ON s.id = t1.id;", "must include the join expressions S.ID or T1.ID"),
])
def test_join_checks(tmp_path, statement, message):
    engine = open_engine(tmp_path)
    engine.create_topic("s")
    engine.create_topic("t1")
    engine.execute("CREATE STREAM s (id INT KEY, v STRING) WITH (kafka_topic='s', value_format='JSON');")
    engine.execute("CREATE TABLE t1 (id INT PRIMARY KEY, a STRING) WITH (kafka_topic='t1', value_format='JSON');")
    with pytest.raises(KsqlException, match=message.replace(".", r"\.")):
        engine.execute(statement)
    engine.close()
