"""Subprocess for the transaction crash tests: three writers share topic `t` (2 partitions, small
segments so that commits roll segments), then one more transaction is committed under
KSQLITE_CRASH_AT, which kills the process at the step it names.

Usage: python txn_crash_worker.py <log dir>. Prints `committed <label>` after each step that
returned, so the test knows what was acknowledged before the kill.
"""
import sys

from pyksqlite.log import EmbeddedLog, TopicConfig
from tests.log.log_test_data import records


def staged(log, transaction, label, count):
    with log.transactional(transaction):
        log.append("t", records([f"k{i}" for i in range(count)], [f"{label}:{i}" for i in range(count)]))


def main() -> None:
    log = EmbeddedLog(sys.argv[1], flush="batch")
    log.create_topic("t", TopicConfig(partitions=2, segment_bytes=4096), exist_ok=True)
    log.create_topic("in", TopicConfig(partitions=1), exist_ok=True)
    writer_a, writer_b = log.transaction("group-a"), log.transaction("group-b")
    staged(log, writer_a, "a1", 40)
    writer_a.commit({("in", 0): 1})
    print("committed a1", flush=True)
    log.append("t", records([f"k{i}" for i in range(30)], [f"plain:{i}" for i in range(30)]))
    print("committed plain", flush=True)
    staged(log, writer_b, "b1", 40)
    writer_b.commit({("in", 0): 7})
    print("committed b1", flush=True)
    staged(log, writer_a, "a2", 200)     # big enough to roll segments while it is written
    writer_a.commit({("in", 0): 2}, metadata={"checkpoint": "a2"})
    print("committed a2", flush=True)


if __name__ == "__main__":
    main()
