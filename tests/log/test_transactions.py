"""Transactions on the embedded log: outputs, offsets and metadata visible together or not at all.

A transaction's appends are staged until it commits; readers only ever see committed records.
A process killed at any step of the commit (see engine/log/embedded/transactions.py) leaves either the
whole transaction or nothing of it, and never takes another writer's records with it.
"""
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyksqlite.log import EmbeddedLog, TopicConfig
from pyksqlite.log.api import OffsetOutOfRangeError
from pyksqlite.log.embedded.groups import CorruptGroupFile
from pyksqlite.log.embedded.transactions import ProducerFencedError, TransactionCommitError
from tests.log.log_test_data import records, values_of

REAL_PWRITEV = os.pwritev
ROOT = Path(__file__).resolve().parents[2]


def everything(log, topic="t"):
    return sorted(v for p in range(len(log.end_offsets(topic))) for v in values_of(log.read(topic, p, 0)))


def stage(log, transaction, values, topic="t"):
    with log.transactional(transaction):
        log.append(topic, records([f"k{i}" for i in range(len(values))], values))


@pytest.fixture
def log(tmp_path):
    log = EmbeddedLog(tmp_path / "log")
    log.create_topic("t", TopicConfig(partitions=2))
    log.create_topic("in")
    yield log
    log.close()


def test_staged_records_are_invisible_until_the_commit_shows_them_with_the_offsets(log):
    transaction = log.transaction("g")
    reader = log.consumer("reader", ["t"])
    stage(log, transaction, ["1", "2", "3"])
    assert log.end_offsets("t") == [0, 0] and reader.poll() is None
    assert log.consumer("g", ["in"]).committed() == {}
    transaction.commit({("in", 0): 5}, metadata={"checkpoint": {"crc": 1, "size": 2}})
    assert everything(log) == ["1", "2", "3"]
    assert log.consumer("g", ["in"]).committed() == {("in", 0): 5}
    assert log.transaction("g").committed_metadata == {"checkpoint": {"crc": 1, "size": 2}}


def test_an_aborted_transaction_leaves_nothing(log):
    transaction = log.transaction("g")
    stage(log, transaction, ["gone"])
    transaction.abort()
    stage(log, transaction, ["kept"])
    transaction.commit({})
    assert everything(log) == ["kept"]


def test_appends_outside_the_block_and_of_other_threads_are_not_staged(log):
    transaction = log.transaction("g")
    stage(log, transaction, ["staged"])
    log.append("t", records(["k"], ["plain"]))
    assert everything(log) == ["plain"]


def test_a_newer_transaction_of_the_same_writer_fences_the_older(log):
    old = log.transaction("g")
    log.transaction("g")
    stage(log, old, ["zombie"])
    with pytest.raises(ProducerFencedError):
        old.commit({})
    assert everything(log) == []


def test_a_commit_on_a_full_disk_stores_nothing_and_can_be_retried(log, monkeypatch):
    transaction = log.transaction("g")
    stage(log, transaction, [f"v{i}" for i in range(100)])

    def no_space(fd, buffers, position):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "pwritev", no_space)
    with pytest.raises(TransactionCommitError) as raised:
        transaction.commit({("in", 0): 1})
    assert "nothing of it was stored" in str(raised.value)
    assert log.end_offsets("t") == [0, 0] and log.consumer("g", ["in"]).committed() == {}
    monkeypatch.setattr(os, "pwritev", REAL_PWRITEV)
    transaction.commit({("in", 0): 1})
    assert everything(log) == sorted(f"v{i}" for i in range(100))
    assert log.consumer("g", ["in"]).committed() == {("in", 0): 1}


def test_a_corrupt_commit_record_is_an_error_naming_it_and_the_log_still_opens(tmp_path, log):
    transaction = log.transaction("g")
    stage(log, transaction, ["1"])
    transaction.commit({("in", 0): 1})
    log.close()
    record = tmp_path / "log" / "groups" / "g" / "transaction"
    data = bytearray(record.read_bytes())
    data[-3] ^= 0xFF
    record.write_bytes(bytes(data))
    reopened = EmbeddedLog(tmp_path / "log")
    try:
        assert everything(reopened) == ["1"]
        with pytest.raises(CorruptGroupFile, match="transaction commit record .* is corrupt"):
            reopened.consumer("g", ["in"]).committed()
    finally:
        reopened.close()


def test_a_topic_deleted_and_created_again_is_not_held_to_the_old_commits(tmp_path, log):
    transaction = log.transaction("g")
    stage(log, transaction, [str(i) for i in range(10)])
    transaction.commit({})
    log.delete_topic("t")
    log.create_topic("t", TopicConfig(partitions=2))
    log.close()
    reopened = EmbeddedLog(tmp_path / "log")
    try:
        assert reopened.end_offsets("t") == [0, 0] and everything(reopened) == []
    finally:
        reopened.close()


def test_a_seek_past_the_end_is_an_error_not_a_silent_skip(log):
    log.append("in", records(["k"] * 3, ["1", "2", "3"]))
    consumer = log.consumer("g", ["in"])
    consumer.seek("in", 0, 3)
    with pytest.raises(OffsetOutOfRangeError, match="position 4 of topic 'in' partition 0 is past the end"):
        consumer.seek("in", 0, 4)


# --- kill -9 at each step of the commit ---------------------------------------------------------

def run_worker(directory: Path, crash_at: str) -> list[str]:
    env = {**os.environ, "KSQLITE_CRASH_AT": crash_at, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("txn_crash_worker.py")), str(directory)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    return [line.split()[1] for line in done.stdout.splitlines()]


@pytest.mark.parametrize("crash_at, a2_committed", [
    ("txn.commit.written:3", False),     # a2's batches written, its record not
    ("txn.commit.recorded:3", True),     # a2's record in place, its batches not published
    ("txn.commit.published:3", True),
])
def test_a_writer_killed_during_a_commit_leaves_all_or_nothing_of_it_and_the_others_intact(
        tmp_path, crash_at, a2_committed):
    acknowledged = run_worker(tmp_path, crash_at)
    assert acknowledged == ["a1", "plain", "b1"]
    log = EmbeddedLog(tmp_path)
    try:
        values = everything(log)
        expected = [f"a1:{i}" for i in range(40)] + [f"plain:{i}" for i in range(30)] + \
            [f"b1:{i}" for i in range(40)] + ([f"a2:{i}" for i in range(200)] if a2_committed else [])
        assert values == sorted(expected)
        committed = log.consumer("group-a", ["in"]).committed()
        assert committed == {("in", 0): 2 if a2_committed else 1}
        assert log.transaction("group-a").committed_metadata == ({"checkpoint": "a2"} if a2_committed else None)
        assert log.consumer("group-b", ["in"]).committed() == {("in", 0): 7}
        ends = log.end_offsets("t")
        for partition in (0, 1):   # appends go on at the end
            log.append("t", records(["k"], ["after"]), partition=partition)
        assert [e + 1 for e in ends] == log.end_offsets("t")
    finally:
        log.close()


def test_committed_batches_survive_a_high_water_offset_that_lags_behind_them(tmp_path, log):
    """A power cut may undo the high-water file's last overwrite (it is not fsynced): the commit
    records, which are, still say how far committed transactional batches go."""
    from pyksqlite.log.embedded.recovery import HighWater
    transaction = log.transaction("g")
    with log.transactional(transaction):
        log.append("t", records(["k"] * 5, [str(i) for i in range(5)]), partition=0)
    transaction.commit({})
    with log.transactional(transaction):
        log.append("t", records(["k"], ["other partition"]), partition=1)
    transaction.commit({})
    log.close()
    stale = HighWater(tmp_path / "log" / "topics" / "t" / "0")
    stale.write(0)
    stale.close()
    reopened = EmbeddedLog(tmp_path / "log")
    try:
        assert values_of(reopened.read("t", 0, 0)) == ["0", "1", "2", "3", "4"]
    finally:
        reopened.close()
