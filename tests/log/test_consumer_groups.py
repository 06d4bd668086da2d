"""Consumer groups: assignment, rebalance on close, commits that survive restarts, seeks."""
import pytest

from pyksqlite.log import Consumer, EmbeddedLog, TopicConfig
from tests.log.log_test_data import records, values_of


def fill(log, topic="t", partitions=4, per_partition=10):
    log.create_topic(topic, TopicConfig(partitions=partitions))
    for p in range(partitions):
        log.append(topic, records(["k"] * per_partition, [f"{p}-{i}" for i in range(per_partition)]), partition=p)


def drain(consumer, max_records=100_000):
    values = []
    while (batch := consumer.poll(max_records)) is not None:
        values += values_of(batch)
    return values


def test_two_members_split_then_survivor_takes_over_from_committed(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    fill(log)
    first = log.consumer("g", ["t"])
    second = log.consumer("g", ["t"])
    assert isinstance(first, Consumer)
    assert first.assignment() == [("t", 0), ("t", 1)]
    assert second.assignment() == [("t", 2), ("t", 3)]
    assert len(drain(first)) == 20
    first.commit()
    assert first.poll() is None
    second_values = drain(second, max_records=3)
    assert sorted(second_values) == sorted(f"{p}-{i}" for p in (2, 3) for i in range(10))
    second.commit({("t", 2): 4, ("t", 3): 10})
    second.close()
    assert first.assignment() == [("t", 0), ("t", 1), ("t", 2), ("t", 3)]
    assert first.position("t", 0) == 10  # kept partitions keep their position
    assert drain(first) == [f"2-{i}" for i in range(4, 10)]
    with pytest.raises(RuntimeError):
        second.poll()


def test_members_on_different_topics_and_a_late_joiner(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    fill(log, "a", partitions=2)
    fill(log, "b", partitions=2)
    both = log.consumer("g", ["a", "b"])
    assert len(both.assignment()) == 4
    late = log.consumer("g", ["a", "b"])
    assert both.assignment() == [("a", 0), ("b", 0)]  # co-partitioned topics stay together
    assert late.assignment() == [("a", 1), ("b", 1)]


def test_poll_shares_max_records_between_partitions_keeping_per_partition_order(tmp_path):
    # A task merging its partitions by timestamp needs records of every partition in each poll.
    log = EmbeddedLog(tmp_path, flush="none")
    fill(log, partitions=3)
    log.append("t", records(["k"] * 5, [f"0-{i}" for i in range(10, 15)]), partition=0)
    consumer = log.consumer("g", ["t"])
    first = consumer.poll(6)
    assert sorted(first.column("partition").to_pylist()) == [0, 0, 1, 1, 2, 2]
    second = consumer.poll(100)   # what a partition with less left does not take goes to the others
    assert sorted(second.column("partition").to_pylist()) == [0] * 13 + [1] * 8 + [2] * 8
    values = values_of(first) + values_of(second)
    for p, count in ((0, 15), (1, 10), (2, 10)):
        assert [v for v in values if v.startswith(f"{p}-")] == [f"{p}-{i}" for i in range(count)]


def test_paused_partitions_are_not_fetched_and_lag_is_known_without_a_read(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    fill(log, partitions=2)
    consumer = log.consumer("g", ["t"])
    assert consumer.current_lag("t", 0) == 10
    consumer.pause([("t", 0)])
    assert set(consumer.poll(4).column("partition").to_pylist()) == {1}
    assert consumer.current_lag("t", 0) == 10 and consumer.current_lag("t", 1) == 6
    consumer.resume([("t", 0)])
    assert len(drain(consumer)) == 16
    assert consumer.current_lag("t", 0) == consumer.current_lag("t", 1) == 0


def test_committed_offsets_survive_reopen_and_consumer_resumes(tmp_path):
    log = EmbeddedLog(tmp_path)
    fill(log, partitions=2)
    consumer = log.consumer("g", ["t"])
    consumer.pause([("t", 1)])
    consumer.poll(7)
    consumer.commit()
    committed = consumer.committed()
    consumer.close()
    log.close()

    log = EmbeddedLog(tmp_path)
    log.append("t", records(["k"], ["0-new"]), partition=0)
    consumer = log.consumer("g", ["t"])
    assert consumer.committed() == committed == {("t", 0): 7, ("t", 1): 0}
    assert drain(consumer) == [f"0-{i}" for i in (7, 8, 9)] + ["0-new"] + [f"1-{i}" for i in range(10)]


def test_latest_reset_and_seeks(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic("t")
    log.append("t", records(["k"] * 5, list("abcde"), [10, 20, 30, 40, 50]))
    consumer = log.consumer("g", ["t"], auto_offset_reset="latest")
    assert consumer.poll() is None
    log.append("t", records(["k"], ["f"], [60]))
    assert values_of(consumer.poll()) == ["f"]
    consumer.seek("t", 0, 3)
    assert values_of(consumer.poll()) == ["d", "e", "f"]
    consumer.seek_to_timestamp(25)
    assert consumer.position("t", 0) == 2
    consumer.seek_to_beginning()
    assert len(drain(consumer)) == 6


def test_subscribing_before_the_topic_exists(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    consumer = log.consumer("g", ["later"])
    assert consumer.poll() is None
    fill(log, "later", partitions=2, per_partition=2)
    assert len(drain(consumer)) == 4


def test_stale_commit_after_topic_recreation_is_forgotten(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    fill(log, partitions=1)
    consumer = log.consumer("g", ["t"])
    drain(consumer)
    consumer.commit()
    consumer.close()
    log.delete_topic("t")
    fill(log, partitions=1, per_partition=3)
    assert len(drain(log.consumer("g", ["t"]))) == 3


def test_dropped_or_closed_log_members_do_not_keep_partitions(tmp_path):
    import gc
    log = EmbeddedLog(tmp_path, flush="none")
    fill(log)
    kept_open = log.consumer("g", ["t"])
    log.consumer("h", ["t"]).assignment()  # dropped without close()
    gc.collect()
    log.close()
    assert kept_open._closed
    restarted = EmbeddedLog(tmp_path, flush="none")
    assert len(restarted.consumer("g", ["t"]).assignment()) == 4
    assert len(restarted.consumer("h", ["t"]).assignment()) == 4
