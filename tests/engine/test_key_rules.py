"""ksqlDB's rules for the key of a query's result: which columns, in which order, in which key
format."""
from __future__ import annotations

import pytest

from pyksqlite.facade.engine import Engine, TestRecord


@pytest.fixture
def engine(tmp_path):
    engine = Engine(tmp_path / "data")
    yield engine
    engine.close()


def _schema(engine: Engine, name: str) -> str:
    return engine.catalog.get_source(name).schema.describe()


def _multi_key_stream(engine: Engine) -> None:
    engine.execute("CREATE STREAM I (K INT KEY, K2 INT KEY, V INT) "
                   "WITH (kafka_topic='i', format='DELIMITED', partitions=1);")


def test_key_columns_keep_the_source_order_by_default(engine):
    _multi_key_stream(engine)
    engine.execute("CREATE STREAM O AS SELECT K2, K, V FROM I;")
    assert _schema(engine, "O") == "`K` INTEGER KEY, `K2` INTEGER KEY, `V` INTEGER"


def test_new_planner_orders_key_columns_as_the_projection(engine):
    _multi_key_stream(engine)
    engine.execute("CREATE STREAM O WITH (FORMAT='DELIMITED') AS SELECT K2, K, V FROM I;",
                   properties={"ksql.new.query.planner.enabled": "true"})
    assert _schema(engine, "O") == "`K2` INTEGER KEY, `K` INTEGER KEY, `V` INTEGER"
    engine.produce_test_records([TestRecord("i", "1,2", "3")])
    engine.run_until_idle()
    assert [r.key for r in engine.read_topic_records("O")] == ["2,1"]   # serialized in that order


def test_new_planner_makes_a_projection_without_the_key_keyless(engine):
    engine.execute("CREATE STREAM I (ID INT KEY, NAME STRING) WITH (kafka_topic='i', value_format='JSON', "
                   "partitions=1);")
    engine.execute("CREATE STREAM O AS SELECT NAME FROM I;",
                   properties={"ksql.new.query.planner.enabled": "true"})
    assert _schema(engine, "O") == "`NAME` STRING"
    assert engine.catalog.get_source("O").key_format.name == "NONE"


def test_partition_by_orders_key_columns_as_its_expressions(engine):
    _multi_key_stream(engine)
    engine.execute("CREATE STREAM O AS SELECT K, K2, V FROM I PARTITION BY K2, K;")
    assert _schema(engine, "O") == "`K2` INTEGER KEY, `K` INTEGER KEY, `V` INTEGER"


def test_a_keyless_source_key_format_none_is_not_inherited_by_a_keyed_result(engine):
    engine.execute("CREATE STREAM I (FOO INT, BAR INT) WITH (kafka_topic='i', key_format='NONE', "
                   "value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE O AS SELECT FOO, COUNT() AS C FROM I GROUP BY FOO;",
                   properties={"ksql.persistence.default.format.key": "JSON"})
    engine.execute("CREATE STREAM P AS SELECT * FROM I PARTITION BY FOO;")
    engine.execute("CREATE STREAM Q AS SELECT * FROM I;")
    assert engine.catalog.get_source("O").key_format.name == "JSON"
    assert engine.catalog.get_source("P").key_format.name == "KAFKA"
    assert engine.catalog.get_source("Q").key_format.name == "NONE"


def test_a_join_takes_the_key_format_of_a_side_that_has_one(engine):
    engine.execute("CREATE STREAM L (ID INT, FOO INT) WITH (kafka_topic='l', key_format='NONE', "
                   "value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE T (ID INT PRIMARY KEY, V STRING) WITH (kafka_topic='t', key_format='JSON', "
                   "value_format='JSON', partitions=1);")
    engine.execute("CREATE STREAM O AS SELECT L.ID, V FROM L JOIN T ON L.ID = T.ID;")
    assert engine.catalog.get_source("O").key_format.name == "JSON"


def test_partitioning_a_join_by_one_side_key_keeps_the_other_side_key_a_value(engine):
    engine.execute("CREATE STREAM L (K STRING KEY, A STRING) WITH (kafka_topic='l', value_format='JSON', "
                   "partitions=1);")
    engine.execute("CREATE STREAM R (K STRING KEY, C STRING) WITH (kafka_topic='r', value_format='JSON', "
                   "partitions=1);")
    engine.execute("CREATE STREAM O AS SELECT L.K AS LK, R.K FROM L JOIN R WITHIN 10 SECONDS "
                   "ON L.K = R.K PARTITION BY L.K;")
    assert _schema(engine, "O") == "`LK` STRING KEY, `R_K` STRING"
