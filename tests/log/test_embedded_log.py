"""Topics, appends, reads, offsets and seeks of the embedded log on real files."""
import threading

import numpy as np
import pyarrow as pa
import pytest

from pyksqlite.log import CONSUME_SCHEMA, EmbeddedLog, Log, TopicConfig
from pyksqlite.log.partitioner import partition_for_key
from tests.log.log_test_data import records, values_of


@pytest.fixture
def log(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    yield log
    log.close()


def test_implements_protocol(log):
    assert isinstance(log, Log)


def test_topic_admin_and_config_persist(tmp_path):
    log = EmbeddedLog(tmp_path)
    config = TopicConfig(partitions=3, cleanup_policy="compact", extra=(("a", "b"),))
    log.create_topic("My.Topic-1_x", config)
    log.create_topic("my.topic-1_x")
    assert log.list_topics() == ["My.Topic-1_x", "my.topic-1_x"]
    with pytest.raises(ValueError):
        log.create_topic("My.Topic-1_x")
    log.create_topic("My.Topic-1_x", exist_ok=True)
    with pytest.raises(ValueError):
        log.create_topic("bad/name")
    log.close()
    reopened = EmbeddedLog(tmp_path)
    assert reopened.topic_config("My.Topic-1_x") == config
    reopened.delete_topic("My.Topic-1_x")
    assert not reopened.topic_exists("My.Topic-1_x")
    assert not (tmp_path / "topics" / "My.Topic-1_x").exists()


def test_keyed_records_follow_the_default_partitioner_in_order(log):
    log.create_topic("t", TopicConfig(partitions=4))
    keys = [f"k{i % 10}" for i in range(100)]
    log.append("t", records(keys, [str(i) for i in range(100)]))
    for partition in range(4):
        batch = log.read("t", partition, 0)
        assert batch.schema == CONSUME_SCHEMA
        expected = [str(i) for i, k in enumerate(keys) if partition_for_key(k.encode(), 4) == partition]
        assert values_of(batch) == expected
        assert batch.column("offset").to_pylist() == list(range(len(expected)))
        assert set(batch.column("topic").to_pylist()) <= {"t"}
        assert set(batch.column("partition").to_pylist()) <= {partition}
    assert sum(log.end_offsets("t")) == 100


def test_explicit_partitions_and_keyless_round_robin(log):
    log.create_topic("t", TopicConfig(partitions=3))
    log.append("t", records(["a", "b"], ["1", "2"]), partition=2)
    log.append("t", records(["a", "b", "c"], ["3", "4", "5"]), partition=pa.array([0, 1, 0], pa.int32()))
    log.append("t", records([None] * 6, list("abcdef")))
    assert log.end_offsets("t") == [4, 3, 4]
    assert values_of(log.read("t", 2, 0)) == ["1", "2", "c", "f"]
    assert values_of(log.read("t", 0, 0)) == ["3", "5", "a", "d"]


def test_read_slices_from_offset_across_batches_and_segments(log):
    log.create_topic("t", TopicConfig(segment_bytes=2000))
    for start in range(0, 300, 30):
        log.append("t", records(["k"] * 30, [str(i) for i in range(start, start + 30)]))
    assert len(list((log.directory / "topics" / "t" / "0").glob("*.log"))) > 3
    batch = log.read("t", 0, 45, max_records=100)
    assert batch.column("offset").to_pylist() == list(range(45, 145))
    assert values_of(batch) == [str(i) for i in range(45, 145)]
    assert log.read("t", 0, 300).num_rows == 0
    assert log.read("t", 0, 299).column("offset").to_pylist() == [299]


def test_headers_timestamps_and_tombstones_round_trip(log):
    log.create_topic("t")
    header_type = CONSUME_SCHEMA.field("headers").type
    table = pa.table({
        "key": pa.array([b"a", None], pa.binary()),
        "value": pa.array([None, b"x"], pa.binary()),
        "timestamp": pa.array([5, None], pa.int64()),
        "headers": pa.array([[{"key": "h", "value": b"1"}], None], header_type),
    })
    log.append("t", table)
    batch = log.read("t", 0, 0)
    assert batch.column("key").to_pylist() == [b"a", None]
    assert batch.column("value").to_pylist() == [None, b"x"]
    assert batch.column("headers").to_pylist() == [[{"key": "h", "value": b"1"}], None]
    timestamps = batch.column("timestamp").to_pylist()
    assert timestamps[0] == 5 and timestamps[1] > 1_600_000_000_000


def test_offset_for_timestamp(log):
    log.create_topic("t")
    log.append("t", records(["k"] * 5, list("abcde"), [10, 20, 30, 40, 50]))
    log.append("t", records(["k"] * 3, list("fgh"), [60, 35, 70]))
    assert log.offset_for_timestamp("t", 0, 0) == 0
    assert log.offset_for_timestamp("t", 0, 31) == 3
    assert log.offset_for_timestamp("t", 0, 55) == 5
    assert log.offset_for_timestamp("t", 0, 65) == 7
    assert log.offset_for_timestamp("t", 0, 71) == 8


def test_reopen_keeps_records_and_offsets(tmp_path):
    log = EmbeddedLog(tmp_path)
    log.create_topic("t", TopicConfig(partitions=2, segment_bytes=1500))
    for i in range(20):
        log.append("t", records([f"k{i}"], [str(i)]), partition=i % 2)
    log.close()
    log = EmbeddedLog(tmp_path)
    assert log.end_offsets("t") == [10, 10]
    log.append("t", records(["x"], ["20"]), partition=0)
    assert values_of(log.read("t", 0, 0)) == [str(i) for i in range(0, 20, 2)] + ["20"]


def test_concurrent_appends_and_reader_see_whole_batches(log):
    log.create_topic("t")
    def produce(thread):
        for i in range(50):
            log.append("t", records(["k"] * 10, [f"{thread}:{i}"] * 10), partition=0)
    seen_sizes = []
    stop = threading.Event()
    def consume():
        while not stop.is_set():
            seen_sizes.append(log.read("t", 0, 0, max_records=10**9).num_rows)
    reader = threading.Thread(target=consume)
    reader.start()
    producers = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for t in producers:
        t.start()
    for t in producers:
        t.join()
    stop.set()
    reader.join()
    assert all(size % 10 == 0 for size in seen_sizes)
    batch = log.read("t", 0, 0, max_records=10**9)
    assert batch.column("offset").to_pylist() == list(range(2000))
    groups = np.array(values_of(batch)).reshape(-1, 10)
    assert (groups == groups[:, :1]).all()
