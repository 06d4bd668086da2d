"""An append is all-or-nothing: a failed or short write leaves every partition as it was.

The faults are injected at the OS-call boundary (`os.pwritev`, `os.fdatasync`), as a disk that
fills up mid-write or fails to sync would produce them; the log above is the real one.
"""
import errno
import os

import pyarrow as pa
import pytest

from pyksqlite.log import EmbeddedLog, TopicConfig
from pyksqlite.log.api import LogAppendError
from tests.log.log_test_data import records, values_of

REAL_PWRITEV = os.pwritev


def segment_bytes(log, partition=0):
    return {p.name: p.read_bytes() for p in (log.directory / "topics" / "t" / str(partition)).glob("*.log")}


class FillingDisk:
    """`os.pwritev` that stores `room` more bytes, then fails with ENOSPC (a short write first,
    when a call does not fit whole)."""

    def __init__(self, room: int):
        self.room = room

    def __call__(self, fd, buffers, position):
        data = b"".join(bytes(b) for b in buffers)
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = REAL_PWRITEV(fd, [data[:self.room]], position)
        self.room -= written
        return written


def test_a_short_write_then_enospc_leaves_the_segment_intact_and_later_appends_survive(tmp_path, monkeypatch):
    log = EmbeddedLog(tmp_path)
    log.create_topic("t")
    log.append("t", records(["a"] * 3, ["1", "2", "3"]))
    before = segment_bytes(log)
    monkeypatch.setattr(os, "pwritev", FillingDisk(room=100))
    with pytest.raises(LogAppendError) as raised:
        log.append("t", records(["b"] * 50, [f"x{i}" for i in range(50)]))
    assert raised.value.disk_full and "topic 't' partition 0" in str(raised.value)
    assert segment_bytes(log) == before
    assert log.end_offsets("t") == [3]
    assert values_of(log.read("t", 0, 0)) == ["1", "2", "3"]
    monkeypatch.setattr(os, "pwritev", REAL_PWRITEV)  # space again
    log.append("t", records(["c"] * 2, ["4", "5"]))
    log.close()
    reopened = EmbeddedLog(tmp_path)
    batch = reopened.read("t", 0, 0)
    assert values_of(batch) == ["1", "2", "3", "4", "5"]
    assert batch.column("offset").to_pylist() == [0, 1, 2, 3, 4]
    reopened.close()


def test_a_failed_fsync_takes_the_append_back(tmp_path, monkeypatch):
    log = EmbeddedLog(tmp_path, flush="batch")
    log.create_topic("t")
    log.append("t", records(["a"], ["1"]))
    before = segment_bytes(log)

    def failing_fdatasync(fd):
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
    with pytest.raises(LogAppendError) as raised:
        log.append("t", records(["b"], ["2"]))
    assert raised.value.errno == errno.EIO and not raised.value.disk_full
    assert segment_bytes(log) == before and log.end_offsets("t") == [1]
    log.close()


def test_an_append_over_several_partitions_is_all_or_nothing(tmp_path, monkeypatch):
    log = EmbeddedLog(tmp_path)
    log.create_topic("t", TopicConfig(partitions=3))
    log.append("t", records(["k"] * 3, ["1", "2", "3"]), partition=pa.array([0, 1, 2], pa.int32()))
    before = [segment_bytes(log, p) for p in range(3)]
    calls = []

    def third_partition_full(fd, buffers, position):
        calls.append(fd)
        if len(calls) == 3:  # partitions 0 and 1 are written by then
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return REAL_PWRITEV(fd, buffers, position)
    monkeypatch.setattr(os, "pwritev", third_partition_full)
    with pytest.raises(LogAppendError, match="partition 2"):
        log.append("t", records(["k"] * 3, ["4", "5", "6"]), partition=pa.array([0, 1, 2], pa.int32()))
    assert [segment_bytes(log, p) for p in range(3)] == before
    assert log.end_offsets("t") == [1, 1, 1]
    monkeypatch.setattr(os, "pwritev", REAL_PWRITEV)
    log.append("t", records(["k"] * 3, ["4", "5", "6"]), partition=pa.array([0, 1, 2], pa.int32()))
    assert [values_of(log.read("t", p, 0)) for p in range(3)] == [["1", "4"], ["2", "5"], ["3", "6"]]
    log.close()


def test_a_failed_append_that_rolled_a_segment_removes_the_new_segment(tmp_path, monkeypatch):
    log = EmbeddedLog(tmp_path)
    log.create_topic("t", TopicConfig(segment_bytes=1))  # every batch gets a segment
    log.append("t", records(["a"], ["1"]))
    before = segment_bytes(log)
    monkeypatch.setattr(os, "pwritev", FillingDisk(room=10))
    with pytest.raises(LogAppendError):
        log.append("t", records(["b"], ["2"]))
    assert segment_bytes(log) == before
    monkeypatch.setattr(os, "pwritev", REAL_PWRITEV)
    log.append("t", records(["c"], ["3"]))
    log.close()
    reopened = EmbeddedLog(tmp_path)
    assert values_of(reopened.read("t", 0, 0)) == ["1", "3"]
    reopened.close()
