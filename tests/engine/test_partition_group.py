"""The PartitionGroup on the real embedded log: Kafka Streams' processing order across a task's
partitions (the lowest partition time first, offsets in order within a partition), the same
whatever the poll size, waiting for partitions that still have records in the log, with
`max.task.idle.ms` as Kafka Streams reads it, and offsets to commit that never skip a record
fetched but not yet processed."""
from __future__ import annotations

import pyarrow as pa
import pytest

from pyksqlite.log import EmbeddedLog, TopicConfig
from pyksqlite.runtime.partition_group import PartitionGroup, topics_in_tie_order
from tests.log.log_test_data import records

# Per partition, the records' timestamps in offset order: partition 0 has a late record (5 after 10).
TIMESTAMPS = {0: [10, 5, 30], 1: [7, 20], 2: [1, 40]}
# Merge keys (the partition's running maximum): p0 10 10 30, p1 7 20, p2 1 40.
ORDER = ["2-0", "1-0", "0-0", "0-1", "1-1", "0-2", "2-1"]


def filled_log(tmp_path, timestamps=TIMESTAMPS, topic="t"):
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic(topic, TopicConfig(partitions=len(timestamps)))
    for p, times in timestamps.items():
        log.append(topic, records(["k"] * len(times), [f"{p}-{i}" for i in range(len(times))], times), partition=p)
    return log


def drain(group, max_records):
    values, empty_polls = [], 0
    while empty_polls < 3:
        runs, fetched = group.poll(max_records)
        for _, rows in runs:
            values += [v.decode() for v in rows.column("value").to_pylist()]
        empty_polls = 0 if (runs or fetched) else empty_polls + 1
    return values


@pytest.mark.parametrize("max_records", [1, 2, 3, 100])
def test_records_come_in_partition_time_order_whatever_the_poll_size(tmp_path, max_records):
    log = filled_log(tmp_path)
    group = PartitionGroup(log.consumer("g", ["t"]), ["t"])
    assert drain(group, max_records) == ORDER


def test_a_partition_with_lag_holds_back_what_it_may_still_precede(tmp_path):
    log = filled_log(tmp_path, {0: [10, 20], 1: [15]})
    group = PartitionGroup(log.consumer("g", ["t"]), ["t"])
    runs, _ = group.poll(2)          # one record of each partition: 10 and 15; partition 0 has more
    assert [v for _, rows in runs for v in rows.column("value").to_pylist()] == [b"0-0"]
    assert group.positions() == {("t", 0): 1, ("t", 1): 0}    # 15 is fetched, not processed
    assert drain(group, 2) == ["1-0", "0-1"]


def test_max_task_idle_ms_minus_one_never_waits(tmp_path):
    log = filled_log(tmp_path, {0: [10, 20], 1: [15]})
    group = PartitionGroup(log.consumer("g", ["t"]), ["t"], max_task_idle_ms=-1)
    runs, _ = group.poll(2)
    assert [v for _, rows in runs for v in rows.column("value").to_pylist()] == [b"0-0", b"1-0"]


def test_max_task_idle_ms_waits_that_long_for_an_empty_partition(tmp_path):
    log = filled_log(tmp_path, {0: [10, 20], 1: []})
    now = [100.0]
    group = PartitionGroup(log.consumer("g", ["t"]), ["t"], max_task_idle_ms=500, clock=lambda: now[0])
    assert group.poll(10)[0] == []                    # partition 1 may still get earlier records
    now[0] += 0.4
    assert group.take_ready(10) == []
    log.append("t", records(["k"], ["1-0"], [15]), partition=1)
    runs, _ = group.poll(10)                          # it did, in time: merged in order
    assert [v for _, rows in runs for v in rows.column("value").to_pylist()] == [b"0-0", b"1-0"]
    now[0] += 0.6                                     # empty again, for longer than the idle time
    assert [v for _, rows in group.take_ready(10) for v in rows.column("value").to_pylist()] == []
    now[0] += 0.6
    assert [v for _, rows in group.take_ready(10) for v in rows.column("value").to_pylist()] == [b"0-1"]


def test_max_task_idle_ms_zero_goes_on_without_a_caught_up_partition(tmp_path):
    log = filled_log(tmp_path, {0: [10, 20], 1: []})
    group = PartitionGroup(log.consumer("g", ["t"]), ["t"])
    assert drain(group, 10) == ["0-0", "0-1"]


def test_ties_go_to_tables_then_the_query_order_then_the_partition(tmp_path):
    class Source:
        def __init__(self, topic, is_table):
            self.topic, self.is_table = topic, is_table
    assert topics_in_tie_order([Source("s", False), Source("t", True), Source("s", False)]) == ("t", "s")
    log = EmbeddedLog(tmp_path, flush="none")
    for topic in ("s", "t"):
        log.create_topic(topic, TopicConfig(partitions=2))
        for p in (0, 1):
            log.append(topic, records(["k"], [f"{topic}{p}"], [5]), partition=p)
    group = PartitionGroup(log.consumer("g", ["s", "t"]), ("t", "s"))
    assert drain(group, 100) == ["t0", "t1", "s0", "s1"]


def test_committing_the_groups_positions_loses_nothing_fetched_but_not_processed(tmp_path):
    log = filled_log(tmp_path)
    consumer = log.consumer("g", ["t"])
    group = PartitionGroup(consumer, ["t"])
    first, _ = group.poll(3)                            # one record per partition fetched
    processed = [v.decode() for _, rows in first for v in rows.column("value").to_pylist()]
    consumer.commit(group.positions())
    consumer.close()
    resumed = PartitionGroup(log.consumer("g", ["t"]), ["t"])
    assert processed + drain(resumed, 3) == ORDER


def test_a_seek_drops_what_the_partition_had_buffered(tmp_path):
    log = filled_log(tmp_path, {0: [1, 2, 3]})
    group = PartitionGroup(log.consumer("g", ["t"]), ["t"], max_task_idle_ms=-1)
    group.fetch(3)
    group.seek("t", 0, 2)
    assert group.buffered() == 0
    assert drain(group, 3) == ["0-2"]


def test_prepared_rows_of_several_kinds_come_out_as_runs_in_order(tmp_path):
    # A plan's preparation may give rows of several kinds (a join's sources): runs of one kind.
    log = EmbeddedLog(tmp_path, flush="none")
    for topic, times in (("left", [1, 4]), ("right", [2, 3])):
        log.create_topic(topic)
        log.append(topic, records(["k"] * 2, [f"{topic}{t}" for t in times], times))

    def prepare(batch: pa.Table):
        from pyksqlite.runtime.partition_group import raw_records
        return [(0 if topic == "left" else 1, topic, rows) for _, topic, rows in raw_records(batch)]
    group = PartitionGroup(log.consumer("g", ["left", "right"]), ["left", "right"], prepare=prepare)
    runs, _ = group.poll(10)
    assert [(tag, rows.column("value").to_pylist()) for tag, rows in runs] == [
        (0, [b"left1"]), (1, [b"right2", b"right3"]), (0, [b"left4"])]
