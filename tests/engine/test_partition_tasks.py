"""Queries as partition tasks (`ksqlite.partitioned.tasks`, as on Kafka) on the embedded log: one
plan per partition with state snapshots in a changelog topic, and repartition topics for
aggregations grouped by other columns; the results equal those of one task, also after a restart."""
from __future__ import annotations

from pyksqlite.facade.engine import Engine, TestRecord

PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.partitioned.tasks": True}
STREAM = ("CREATE STREAM bids (auction BIGINT KEY, bidder STRING, price BIGINT) "
          "WITH (kafka_topic='bids', value_format='JSON', partitions=4);")


def bids(start: int, count: int) -> list[TestRecord]:
    return [TestRecord("bids", k % 7, {"bidder": f"b{k % 3}", "price": k}, timestamp=k)
            for k in range(start, start + count)]


def table(engine: Engine, name: str) -> dict:
    return {tuple(row[:-1]) if len(row) > 2 else row[0]: row[-1]
            for row in engine.pull_query(f"SELECT * FROM {name};").rows}


def test_grouping_by_the_key_keeps_state_per_partition_across_a_restart(tmp_path):
    engine = Engine(tmp_path, PROPERTIES)
    engine.execute(STREAM + "CREATE TABLE n AS SELECT auction, COUNT(*) AS n FROM bids GROUP BY auction;")
    engine.produce_test_records(bids(0, 70))
    engine.run_until_idle()
    assert table(engine, "n") == {k: 10 for k in range(7)}
    assert any(t.endswith("Aggregate-Aggregate-Materialize-changelog") for t in engine.log.list_topics())
    engine.close()
    engine = Engine(tmp_path, PROPERTIES)       # state restored from the changelog topic
    engine.produce_test_records(bids(70, 70))
    engine.run_until_idle()
    assert table(engine, "n") == {k: 20 for k in range(7)}
    engine.close()


def test_grouping_by_a_value_column_reads_a_repartition_topic(tmp_path):
    engine = Engine(tmp_path, PROPERTIES)
    engine.execute(STREAM + "CREATE TABLE per_bidder AS SELECT bidder, SUM(price) AS total FROM bids "
                   "GROUP BY bidder;")
    engine.produce_test_records(bids(0, 90))
    engine.run_until_idle()
    assert table(engine, "per_bidder") == {f"b{i}": sum(k for k in range(90) if k % 3 == i) for i in range(3)}
    assert "_confluent-ksql-default_query_CTAS_PER_BIDDER_0-Aggregate-GroupBy-repartition" in engine.log.list_topics()
    assert list(engine.catalog.queries) == ["CTAS_PER_BIDDER_0"]
    engine.close()


def test_grouping_by_every_column_still_carries_the_rows(tmp_path):
    engine = Engine(tmp_path, PROPERTIES)
    engine.execute("CREATE STREAM pairs (a STRING, b INT) WITH (kafka_topic='pairs', value_format='JSON', "
                   "partitions=2);"
                   "CREATE TABLE counts WITH (key_format='JSON') AS SELECT a, b, COUNT(*) AS n FROM pairs GROUP BY a, b;")
    engine.produce_test_records([TestRecord("pairs", None, {"a": f"x{k % 2}", "b": k % 3}, timestamp=k)
                                 for k in range(60)])
    engine.run_until_idle()
    assert table(engine, "counts") == {(f"x{i}", j): 10 for i in range(2) for j in range(3)}
    assert any(t.endswith("GroupBy-repartition") for t in engine.log.list_topics())
    engine.close()
