"""Reads of the embedded log are memory maps of the segment files: what they must still guarantee."""
import gc
import os

import pyarrow as pa
import pytest

from pyksqlite.log import EmbeddedLog, TopicConfig
from pyksqlite.log.partitioner import partitions_for_keys
from tests.log.log_test_data import records, values_of


@pytest.fixture
def log(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    yield log
    log.close()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_batches_read_stay_valid_after_their_segment_is_deleted(log):
    log.create_topic("t", TopicConfig(segment_bytes=2000, retention_ms=1))
    for start in range(0, 100, 10):
        log.append("t", records(["k"] * 10, [f"v{i}" for i in range(start, start + 10)], [1] * 10))
    held = log.read("t", 0, 0, max_records=1000)
    log.run_maintenance(now_ms=10**13)
    assert log.start_offsets("t")[0] > 0  # the closed segments are gone
    gc.collect()
    assert values_of(held) == [f"v{i}" for i in range(100)]


def test_batches_read_outlive_the_log(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic("t")
    log.append("t", records(["a", "b"], ["1", "2"]))
    held = log.read("t", 0, 0)
    log.close()
    gc.collect()
    assert values_of(held) == ["1", "2"]


def test_held_batches_do_not_hold_file_descriptors(log):
    log.create_topic("t")
    for i in range(40):
        log.append("t", records(["k"] * 5, [f"{i}:{j}" for j in range(5)]))
    before = open_descriptors()
    held = [log.read("t", 0, offset, max_records=5) for offset in range(0, 200, 5)]
    assert open_descriptors() == before
    assert [values_of(b)[0] for b in held] == [f"{i}:0" for i in range(40)]


def test_reads_follow_a_growing_active_segment(log):
    log.create_topic("t")
    seen = []
    for i in range(30):
        log.append("t", records(["k"], [str(i)]))
        seen += values_of(log.read("t", 0, i))
    assert seen == [str(i) for i in range(30)]
    assert values_of(log.read("t", 0, 0, max_records=100)) == [str(i) for i in range(30)]


def test_all_keyless_records_go_round_robin_without_hashing():
    keys = pa.nulls(9, pa.binary())
    assert partitions_for_keys(keys, 4, round_robin_start=2).tolist() == [(2 + i) % 4 for i in range(9)]


def test_mapped_reads_check_each_batch_the_first_time_it_is_read(tmp_path):
    from pyksqlite.log.api import CorruptRecordError
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic("t", TopicConfig(segment_bytes=1))  # one batch per segment
    for i in range(3):
        log.append("t", records(["k"] * 2, [f"{i}a", f"{i}b"]))
    log.close()
    log = EmbeddedLog(tmp_path, flush="none")
    first_segment = sorted((tmp_path / "topics" / "t" / "0").glob("*.log"))[0]
    data = bytearray(first_segment.read_bytes())
    data[-5] ^= 0xFF  # damaged after the log was opened, before anything was read
    first_segment.write_bytes(bytes(data))
    with pytest.raises(CorruptRecordError, match="topic 't' partition 0 at offsets 0-1"):
        log.read("t", 0, 0)
    assert values_of(log.read("t", 0, 2)) == ["1a", "1b", "2a", "2b"]
    log.close()
