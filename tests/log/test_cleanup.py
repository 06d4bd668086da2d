"""Retention (whole segments only, never the active one) and compaction."""
from pyksqlite.log import EmbeddedLog, TopicConfig
from tests.log.log_test_data import records, values_of


def segment_files(log, topic="t"):
    return sorted((log.directory / "topics" / topic / "0").glob("*.log"))


def append_rounds(log, rounds, per_round=10, topic="t"):
    """Each round: per_round records with timestamps round*100 + i, one disk batch."""
    for r in range(rounds):
        log.append(topic, records(["k"] * per_round, [f"{r}-{i}" for i in range(per_round)],
                                  [r * 100 + i for i in range(per_round)]))


def test_time_retention_deletes_old_whole_segments_only(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic("t", TopicConfig(segment_bytes=1, retention_ms=250))  # one batch per segment
    append_rounds(log, 6)
    assert len(segment_files(log)) == 6
    log.run_maintenance(now_ms=550)  # horizon 300: rounds 0..2 (max ts 9, 109, 209) expire
    assert log.start_offsets("t") == [30]
    assert len(segment_files(log)) == 3
    assert values_of(log.read("t", 0, 0, 5)) == [f"3-{i}" for i in range(5)]
    log.run_maintenance(now_ms=10**9)
    assert log.start_offsets("t") == [50] and log.end_offsets("t") == [60]  # active segment stays
    log.close()
    reopened = EmbeddedLog(tmp_path)
    assert reopened.start_offsets("t") == [50] and reopened.end_offsets("t") == [60]


def test_size_retention_keeps_partition_at_least_retention_bytes(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic("t", TopicConfig(segment_bytes=1, retention_ms=-1))
    append_rounds(log, 5)
    segment_size = segment_files(log)[0].stat().st_size
    log.close()
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic("u", TopicConfig(segment_bytes=1, retention_ms=-1, retention_bytes=int(segment_size * 2.5)))
    append_rounds(log, 5, topic="u")
    log.run_maintenance(now_ms=10**12)
    assert len(segment_files(log, "u")) == 3  # 5 - 2 keeps it >= 2.5 segments
    assert log.start_offsets("u") == [20]
    assert log.start_offsets("t") == [0]  # retention_ms=-1 and no byte limit: kept


def test_compaction_keeps_latest_per_key_and_offsets(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic("t", TopicConfig(segment_bytes=1, cleanup_policy="compact"))
    log.append("t", records(["a", "b", "a", None], ["a1", "b1", "a2", "n1"], [1, 2, 3, 4]))
    log.append("t", records(["b", "c"], ["b2", "c1"], [5, 6]))
    log.append("t", records(["a"], ["a3"], [7]))  # active segment
    log.run_maintenance(now_ms=100)
    batch = log.read("t", 0, 0)
    assert values_of(batch) == ["n1", "b2", "c1", "a3"]
    assert batch.column("offset").to_pylist() == [3, 4, 5, 6]
    assert log.read("t", 0, 1).column("offset").to_pylist() == [3, 4, 5, 6]
    assert log.read("t", 0, 5).column("offset").to_pylist() == [5, 6]
    assert log.end_offsets("t") == [7]
    log.close()
    reopened = EmbeddedLog(tmp_path)
    assert reopened.read("t", 0, 0).column("offset").to_pylist() == [3, 4, 5, 6]


def test_tombstones_go_after_delete_retention(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    config = TopicConfig(segment_bytes=1, cleanup_policy="compact", delete_retention_ms=1000)
    log.create_topic("t", config)
    log.append("t", records(["a", "b"], ["a1", "b1"], [0, 0]))
    log.append("t", records(["a"], [None], [100]))
    log.append("t", records(["c"], ["c1"], [200]))  # active
    log.run_maintenance(now_ms=500)
    batch = log.read("t", 0, 0)
    assert batch.column("offset").to_pylist() == [1, 2, 3]
    assert values_of(batch) == ["b1", None, "c1"]
    log.run_maintenance(now_ms=2000)
    assert log.read("t", 0, 0).column("offset").to_pylist() == [1, 3]


def test_compact_and_delete_together_and_consumer_skips_gaps(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic("t", TopicConfig(segment_bytes=1, cleanup_policy="compact,delete", retention_ms=1000))
    log.append("t", records(["a"], ["old"], [0]))
    log.append("t", records(["a", "b"], ["a2", "b1"], [5000, 5000]))
    log.append("t", records(["a"], ["a3"], [5001]))
    log.run_maintenance(now_ms=5500)
    consumer = log.consumer("g", ["t"])
    batch = consumer.poll()
    assert batch.column("offset").to_pylist() == [2, 3]
    assert consumer.position("t", 0) == 4


def test_maintenance_on_empty_and_emptied_partitions(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic("t", TopicConfig(segment_bytes=1, cleanup_policy="compact,delete", retention_ms=10))
    log.run_maintenance(now_ms=0)
    log.append("t", records(["a"], ["1"], [0]))
    log.append("t", records(["a"], ["2"], [0]))
    log.run_maintenance(now_ms=1000)
    log.run_maintenance(now_ms=2000)
    assert log.start_offsets("t") == [1] and values_of(log.read("t", 0, 0)) == ["2"]


def test_reader_snapshot_survives_deletion_of_its_segments(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic("t", TopicConfig(segment_bytes=1, retention_ms=0))
    append_rounds(log, 3)
    partition = log.partition("t", 0)
    snapshot = partition.segments
    log.run_maintenance(now_ms=10**9)
    assert log.start_offsets("t") == [20]
    entries = snapshot[0].entries
    batches, damaged = snapshot[0].read_batches(entries)
    assert damaged is None and values_of(batches[0].slice(0, 2)) == ["0-0", "0-1"]
