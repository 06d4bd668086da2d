"""Consumer groups on a real broker: members split the partitions (cooperative-sticky), a
survivor takes over a closed member's partitions from its committed offsets."""
from __future__ import annotations

import threading
import time

from pyksqlite.log.api import TopicConfig
from tests.log.log_test_data import records, values_of


def fill(log, topic="t", partitions=4, per_partition=10):
    log.create_topic(topic, TopicConfig(partitions=partitions))
    for p in range(partitions):
        log.append(topic, records(["k"] * per_partition, [f"{p}-{i}" for i in range(per_partition)]), partition=p)


def settle(consumers, want, timeout=30.0):
    """Poll every member in a thread of its own, as members run (a member that joins waits for the
    others to give up partitions, which they do only while polled), until the assignment sizes
    are `want`; returns the values each member read meanwhile."""
    read = [[] for _ in consumers]
    sizes = [None] * len(consumers)
    stop = threading.Event()

    def member(index, consumer):
        while not stop.is_set():
            batch = consumer.poll(1)
            if batch is not None:
                read[index] += values_of(batch)
            sizes[index] = len(consumer.assignment())

    threads = [threading.Thread(target=member, args=(i, c), daemon=True) for i, c in enumerate(consumers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    while sizes != want and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    if sizes != want:
        raise AssertionError(f"assignment sizes {sizes} never became {want}")
    return read


def drain(consumer):
    values = []
    while (batch := consumer.poll()) is not None:
        values += values_of(batch)
    return values


def test_two_members_split_then_survivor_takes_over_from_committed(kafka_log):
    fill(kafka_log)
    first = kafka_log.consumer("g", ["t"])
    second = kafka_log.consumer("g", ["t"])
    read = settle([first, second], [2, 2])
    assert sorted(first.assignment() + second.assignment()) == [("t", p) for p in range(4)]
    values = [read[0] + drain(first), read[1] + drain(second)]
    for member, got in zip((first, second), values):
        # Nothing committed yet: each member reads its partitions from the start.
        owned = {p for _, p in member.assignment()}
        assert {v.split("-")[0] for v in got} <= {str(p) for p in range(4)}
        # (a member may also have read partitions it owned before the split)
        assert owned <= {int(v.split("-")[0]) for v in got if v.split("-")[1] == "9"}
    second_partitions = [p for _, p in second.assignment()]
    second.commit({("t", second_partitions[0]): 4, ("t", second_partitions[1]): 10})
    first.commit()
    second.close()
    read = settle([first], [4])
    rest = read[0] + drain(first)
    assert sorted(rest) == [f"{second_partitions[0]}-{i}" for i in range(4, 10)]
    assert first.committed()[("t", second_partitions[1])] == 10


def test_a_new_member_resumes_from_the_committed_offsets(kafka_log):
    fill(kafka_log, partitions=2, per_partition=5)
    consumer = kafka_log.consumer("resume", ["t"])
    assert len(drain(consumer)) == 10
    consumer.commit({("t", 0): 3, ("t", 1): 5})
    assert consumer.committed() == {("t", 0): 3, ("t", 1): 5}
    consumer.close()
    again = kafka_log.consumer("resume", ["t"])
    assert drain(again) == ["0-3", "0-4"]
    assert again.position("t", 0) == 5
    again.close()
    latest = kafka_log.consumer("other", ["t"], auto_offset_reset="latest")
    assert latest.poll() is None
    kafka_log.append("t", records(["k"], ["new"]), partition=1)
    assert values_of(latest.poll()) == ["new"]
