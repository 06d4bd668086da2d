"""The engine on a Kafka log: the same SQL, only the log behind the interface differs."""
from __future__ import annotations

from pyksqlite.catalog.command_topic import command_topic_name
from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.log.kafka.log import KafkaLog
from tests.kafka.conftest import unique_prefix


def test_csas_filter_on_kafka(bootstrap, tmp_path):
    log = KafkaLog(bootstrap, topic_prefix=unique_prefix("engine"))
    engine = Engine(tmp_path, {"ksql.streams.auto.offset.reset": "earliest"}, log=log)
    try:
        engine.create_topic("input", partitions=2)
        engine.execute("CREATE STREAM s (id INT KEY, name STRING, amount DOUBLE) "
                       "WITH (kafka_topic='input', value_format='JSON');")
        engine.execute("CREATE STREAM big AS SELECT id, UCASE(name) AS name, amount * 2 AS twice "
                       "FROM s WHERE amount > 10;")
        engine.produce_test_records([
            TestRecord("input", 1, {"name": "a", "amount": 5.0}, timestamp=0),
            TestRecord("input", 2, {"NAME": "b", "AMOUNT": 50.0}, timestamp=1),
            TestRecord("input", 3, {"name": "c", "amount": 11}, timestamp=2),
        ])
        assert engine.run_until_idle(timeout=60)
        out = sorted((r.key, r.value, r.timestamp) for r in engine.read_topic_records("BIG"))
        assert out == [(2, {"NAME": "B", "TWICE": 100.0}, 1), (3, {"NAME": "C", "TWICE": 22.0}, 2)]
        assert "BIG" in log.list_topics()
    finally:
        engine.close()
        log.delete_all_topics()


def test_engine_selects_kafka_from_properties(bootstrap, tmp_path):
    from pyksqlite.log.embedded.log import EmbeddedLog
    engine = Engine(tmp_path / "a", {"ksql.streams.bootstrap.servers": "localhost:0"})
    assert isinstance(engine.log, EmbeddedLog)   # QTT's placeholder names no broker
    engine.close()
    engine = Engine(tmp_path / "b", bootstrap_servers=bootstrap)
    try:
        assert isinstance(engine.log, KafkaLog)
        assert engine.log.topic_prefix == ""     # the user's topics, under their own names
    finally:
        engine.close()
        engine.log.delete_topic(command_topic_name("default_"))  # other engines on the cluster would replay it
