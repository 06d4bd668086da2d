"""The Kafka log against a real broker: topics, producing, reading, partitioning, offsets."""
from __future__ import annotations

import pyarrow as pa
import pytest

from pyksqlite.log.api import HEADER_TYPE, Consumer, Log, OffsetOutOfRangeError, TopicConfig
from pyksqlite.log.embedded.log import EmbeddedLog
from tests.log.log_test_data import records, values_of


def drain(consumer, max_records=100_000, rounds=50):
    batches = []
    for _ in range(rounds):
        batch = consumer.poll(max_records)
        if batch is None:
            break
        batches.append(batch)
    return batches


def test_topics_are_created_with_their_configs_and_deleted(kafka_log):
    from confluent_kafka.admin import ConfigResource
    assert isinstance(kafka_log, Log)
    config = TopicConfig(partitions=3, cleanup_policy="compact", retention_ms=3_600_000,
                         extra=(("max.message.bytes", "2000000"),))
    kafka_log.create_topic("orders", config)
    kafka_log.create_topic("orders", config, exist_ok=True)
    with pytest.raises(ValueError, match="already exists"):
        kafka_log.create_topic("orders", config)
    assert kafka_log.topic_exists("orders") and not kafka_log.topic_exists("nope")
    assert kafka_log.list_topics() == ["orders"]   # the prefix hides every other test's topics
    wire = kafka_log.wire_name("orders")
    resource = ConfigResource(ConfigResource.Type.TOPIC, wire)
    broker = kafka_log._admin.describe_configs([resource])[resource].result()
    assert broker["cleanup.policy"].value == "compact"
    assert broker["retention.ms"].value == "3600000"
    assert broker["max.message.bytes"].value == "2000000"
    described = kafka_log._describe("orders")
    assert (described.partitions, described.cleanup_policy, described.retention_ms) == (3, "compact", 3_600_000)
    kafka_log.delete_topic("orders")
    assert not kafka_log.topic_exists("orders")
    with pytest.raises(KeyError):
        kafka_log.delete_topic("orders")
    kafka_log.create_topic("orders", TopicConfig(partitions=1))   # the name is free again at once
    with pytest.raises(ValueError, match="illegal topic name"):
        kafka_log.create_topic("no spaces")


def test_records_keep_their_order_per_partition_and_land_where_the_embedded_log_puts_them(kafka_log, tmp_path):
    n = 20_000
    keys = [f"key-{i % 997}" for i in range(n)]
    keys[::50] = [None] * len(keys[::50])    # keyless records go round-robin on both logs
    batch = records(keys, [str(i) for i in range(n)], timestamps=list(range(1, n + 1)))
    embedded = EmbeddedLog(tmp_path, flush="none")
    for log in (kafka_log, embedded):
        log.create_topic("t", TopicConfig(partitions=4))
        log.append("t", batch)
    assert kafka_log.end_offsets("t") == embedded.end_offsets("t")
    assert kafka_log.start_offsets("t") == [0, 0, 0, 0]
    for partition in range(4):
        kafka_rows = kafka_log.read("t", partition, 0, max_records=n)
        embedded_rows = embedded.read("t", partition, 0, max_records=n)
        assert kafka_rows.column("offset").to_pylist() == list(range(kafka_rows.num_rows))
        assert values_of(kafka_rows) == values_of(embedded_rows)   # same records, same order
        assert kafka_rows.column("key").equals(embedded_rows.column("key"))
        assert kafka_rows.column("timestamp").equals(embedded_rows.column("timestamp"))
        assert kafka_rows.schema == embedded_rows.schema
    middle = kafka_log.read("t", 1, 100, max_records=10)
    assert middle.column("offset").to_pylist() == list(range(100, 110))
    end = kafka_log.end_offsets("t")[2]
    assert kafka_log.read("t", 2, end).num_rows == 0
    embedded.close()


def test_explicit_partitions_headers_and_timestamp_zero_round_trip(kafka_log):
    kafka_log.create_topic("h", TopicConfig(partitions=2))
    headers = pa.array([[{"key": "a", "value": b"1"}], None, []], HEADER_TYPE)
    batch = pa.table({"key": pa.array([b"x", b"y", None]), "value": pa.array([b"1", None, b"3"]),
                      "timestamp": pa.array([0, 5, 0], pa.int64()), "headers": headers})
    kafka_log.append("h", batch, partition=1)
    kafka_log.append("h", batch.slice(0, 2), partition=pa.array([0, 1], pa.int32()))
    assert kafka_log.end_offsets("h") == [1, 4]
    rows = kafka_log.read("h", 1, 0)
    assert rows.column("timestamp").to_pylist() == [0, 5, 0, 5]
    assert rows.column("value").to_pylist() == [b"1", None, b"3", None]   # a null value: a tombstone
    assert rows.column("key").to_pylist() == [b"x", b"y", None, b"y"]
    assert rows.column("headers").to_pylist()[:2] == [[{"key": "a", "value": b"1"}], None]
    with pytest.raises(ValueError):
        kafka_log.append("h", batch, partition=2)


def test_offsets_for_timestamps(kafka_log):
    kafka_log.create_topic("ts", TopicConfig(partitions=1))
    kafka_log.append("ts", records(["k"] * 5, list("abcde"), timestamps=[10, 20, 30, 40, 50]), partition=0)
    assert kafka_log.offset_for_timestamp("ts", 0, 25) == 2
    assert kafka_log.offset_for_timestamp("ts", 0, 10) == 0
    assert kafka_log.offset_for_timestamp("ts", 0, 99) == 5    # after the last record: the end


def test_a_consumer_reads_everything_then_reports_idle(kafka_log):
    kafka_log.create_topic("c", TopicConfig(partitions=3))
    kafka_log.append("c", records([f"k{i}" for i in range(3000)], [str(i) for i in range(3000)]))
    consumer = kafka_log.consumer("g", ["c"])
    assert isinstance(consumer, Consumer)
    batches = drain(consumer, max_records=1000)
    assert all(b.num_rows <= 1000 for b in batches)
    assert sorted(int(v) for b in batches for v in values_of(b)) == list(range(3000))
    assert consumer.poll() is None
    # What this process appends is seen by the next poll (no false idle in between).
    kafka_log.append("c", records(["late"], ["late"]))
    assert values_of(consumer.poll()) == ["late"]
    assert consumer.poll() is None
    assert {tp: consumer.position(*tp) for tp in consumer.assignment()} == \
        {("c", p): end for p, end in enumerate(kafka_log.end_offsets("c"))}


def test_seek_position_and_seek_to_timestamp(kafka_log):
    kafka_log.create_topic("s", TopicConfig(partitions=1))
    kafka_log.append("s", records(["k"] * 10, [str(i) for i in range(10)], timestamps=list(range(100, 110))),
                     partition=0)
    consumer = kafka_log.consumer("g", ["s"])
    assert consumer.position("s", 0) == 0
    consumer.seek("s", 0, 7)
    assert consumer.position("s", 0) == 7
    assert values_of(consumer.poll()) == ["7", "8", "9"]
    consumer.seek_to_timestamp(104)
    assert consumer.position("s", 0) == 4
    assert values_of(consumer.poll())[0] == "4"
    consumer.seek_to_beginning()
    assert consumer.position("s", 0) == 0
    assert len(values_of(consumer.poll())) == 10
    with pytest.raises(ValueError):
        consumer.seek("other", 0, 1)
    with pytest.raises(OffsetOutOfRangeError, match="position 11 of topic 's' partition 0 is past the end"):
        consumer.seek("s", 0, 11)   # a restored position the log does not reach: never a silent reset
