"""Consumer groups on a real broker: members split the partitions (cooperative-sticky), a
survivor takes over a closed member's partitions from its committed offsets."""
from __future__ import annotations

import time

from engine.log.api import TopicConfig
from tests.log.log_test_data import records, values_of


def fill(log, topic="t", partitions=4, per_partition=10):
    log.create_topic(topic, TopicConfig(partitions=partitions))
    for p in range(partitions):
        log.append(topic, records(["k"] * per_partition, [f"{p}-{i}" for i in range(per_partition)]), partition=p)


def settle(consumers, want, timeout=30.0):
    """Poll every member (serving the group protocol) until the assignments are `want`; returns
    the values read meanwhile per member."""
    read = [[] for _ in consumers]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i, consumer in enumerate(consumers):
            batch = consumer.poll(1)
            if batch is not None:
                read[i] += values_of(batch)
        if [len(c.assignment()) for c in consumers] == want:
            return read
    raise AssertionError(f"assignments {[c.assignment() for c in consumers]} never became sizes {want}")


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
        assert {int(v.split("-")[0]) for v in got if v.split("-")[1] == "9"} == owned
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
