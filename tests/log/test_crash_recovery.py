"""Torn-write recovery: SIGKILLed writers lose no acknowledged record and leave a whole tail.

A SIGKILL cannot tear a batch by itself (each batch is one writev, completed in the page cache),
so after each kill the test also appends a torn batch (a prefix, or a copy with a flipped byte)
as a power loss in the middle of an unacknowledged write would leave it.
"""
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pyksqlite.log import EmbeddedLog, TopicConfig
from pyksqlite.log.api import CorruptRecordError
from pyksqlite.log.embedded.recovery import HighWater
from pyksqlite.log.embedded.scan import scan
from pyksqlite.log.embedded.segment import base_offset_of
from tests.log.log_test_data import records, values_of

WRITER = Path(__file__).with_name("crash_writer.py")


def run_writer_until_killed(directory: Path, seed: int, acks_before_kill: int) -> list[tuple[int, int, str, int]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    writer = subprocess.Popen([sys.executable, str(WRITER), str(directory), str(seed)],
                              stdout=subprocess.PIPE, text=True, env=env)
    acked = []
    for line in writer.stdout:
        partition, end, batch_id, count = line.split()
        acked.append((int(partition), int(end), batch_id, int(count)))
        if len(acked) >= acks_before_kill:
            break
    writer.send_signal(signal.SIGKILL)
    acked += [tuple(map(_parse, line.split())) for line in writer.stdout.read().splitlines()]
    writer.wait()
    return acked


def _parse(field: str):
    return int(field) if field.isdigit() else field


def test_acknowledged_records_survive_sigkill_in_several_rounds(tmp_path):
    log = EmbeddedLog(tmp_path)
    log.create_topic("t", TopicConfig(partitions=2, segment_bytes=400_000))
    log.close()
    rng = random.Random(1)
    acked = []
    for round_number in range(5):
        acked += run_writer_until_killed(tmp_path, seed=round_number, acks_before_kill=rng.randint(1, 25))
        for partition in range(2):
            add_torn_batch(tmp_path / "topics" / "t" / str(partition), rng)
        log = EmbeddedLog(tmp_path)
        for partition in range(2):
            batch = log.read("t", partition, 0, max_records=10**9)
            assert batch.column("offset").to_pylist() == list(range(log.end_offsets("t")[partition]))
            values = values_of(batch)
            for acked_partition, end, batch_id, count in acked:
                if acked_partition == partition:
                    assert values[end - count:end] == [f"{batch_id}:{i}:" + "x" * 100 for i in range(count)]
        log.close()


def add_torn_batch(partition_dir: Path, rng: random.Random) -> None:
    """Append a torn copy of the last batch: a prefix of it, or all of it with a flipped byte."""
    segment = sorted(partition_dir.glob("*.log"))[-1]
    entries = scan(segment, verify_crc=False, base_offset=base_offset_of(segment)).entries
    if not entries:
        return
    data = segment.read_bytes()[entries[-1].position:]
    if rng.random() < 0.5:
        torn = data[:rng.randint(1, len(data) - 1)]
    else:
        flipped = rng.randrange(len(data))
        torn = data[:flipped] + bytes([data[flipped] ^ 0xFF]) + data[flipped + 1:]
        if flipped < 8:  # magic or length bytes: still torn, just detected differently
            torn = torn[:rng.randint(1, len(torn))]
    with open(segment, "ab") as f:
        f.write(torn)


def last_segment(directory: Path) -> Path:
    return sorted((directory / "topics" / "t" / "0").glob("*.log"))[-1]


def two_batches(directory: Path) -> tuple[Path, bytes, int]:
    """A log of one partition holding batches [1, 2, 3] and [4, 5], closed; (segment file,
    its bytes, where the second batch starts)."""
    log = EmbeddedLog(directory)
    log.create_topic("t")
    log.append("t", records(["a"] * 3, ["1", "2", "3"]))
    log.append("t", records(["b"] * 2, ["4", "5"]))
    log.close()
    segment = last_segment(directory)
    whole = segment.read_bytes()
    return segment, whole, whole.index(b"KSL1", 1)


def torn_third_batch(directory: Path, whole: bytes) -> bytes:
    """The bytes of a third batch [6] as an append interrupted by a crash leaves them: written
    but the high-water offset not yet moved past them (so never acknowledged)."""
    log = EmbeddedLog(directory)
    log.append("t", records(["c"], ["6"]))
    log.close()
    HighWater(last_segment(directory).parent).write(5)
    return last_segment(directory).read_bytes()[len(whole):]


@pytest.mark.parametrize("torn", ["partial header", "partial payload", "flipped byte"])
def test_a_torn_unacknowledged_tail_is_cut_and_logged(tmp_path, caplog, torn):
    segment, whole, _ = two_batches(tmp_path)
    third = torn_third_batch(tmp_path, whole)
    tail = {"partial header": third[:10], "partial payload": third[:-7],
            "flipped byte": third[:-3] + bytes([third[-3] ^ 0xFF]) + third[-2:]}[torn]
    segment.write_bytes(whole + tail)
    log = EmbeddedLog(tmp_path)
    assert log.end_offsets("t") == [5]
    assert segment.stat().st_size == len(whole)
    assert "cut" in caplog.text and "topic 't' partition 0" in caplog.text
    log.append("t", records(["d"], ["7"]))
    assert values_of(log.read("t", 0, 0)) == ["1", "2", "3", "4", "5", "7"]
    log.close()


@pytest.mark.parametrize("damage", ["cut short", "flipped byte"])
def test_an_acknowledged_tail_that_is_gone_is_reported_and_its_offsets_never_reused(tmp_path, caplog, damage):
    segment, whole, second_batch = two_batches(tmp_path)
    damaged = whole[:second_batch + 20] if damage == "cut short" else \
        whole[:-3] + bytes([whole[-3] ^ 0xFF]) + whole[-2:]
    segment.write_bytes(damaged)
    log = EmbeddedLog(tmp_path)
    assert log.end_offsets("t") == [5]  # never backwards
    assert segment.read_bytes() == damaged  # kept for inspection, not cut
    assert "offsets 3-4 were acknowledged but are not on disk" in caplog.text
    assert values_of(log.read("t", 0, 0)) == ["1", "2", "3"]
    with pytest.raises(CorruptRecordError) as raised:
        log.read("t", 0, 3)
    assert (raised.value.topic, raised.value.partition, raised.value.offset, raised.value.last_offset) == ("t", 0, 3, 4)
    assert "topic 't' partition 0 at offsets 3-4" in str(raised.value)
    log.append("t", records(["c"], ["6"]))
    assert log.read("t", 0, 5).column("offset").to_pylist() == [5]  # offset 5, not 3 again
    log.close()
    reopened = EmbeddedLog(tmp_path)  # the loss is still reported after another restart
    with pytest.raises(CorruptRecordError):
        reopened.read("t", 0, 3)
    assert reopened.end_offsets("t") == [6]
    reopened.close()


def test_a_deleted_active_segment_is_a_reported_loss(tmp_path):
    log = EmbeddedLog(tmp_path)
    log.create_topic("t", TopicConfig(segment_bytes=1))  # one batch per segment
    for i in range(3):
        log.append("t", records(["k"], [str(i)]))
    log.close()
    last_segment(tmp_path).unlink()
    log = EmbeddedLog(tmp_path)
    assert log.end_offsets("t") == [3]
    assert values_of(log.read("t", 0, 0)) == ["0", "1"]
    with pytest.raises(CorruptRecordError, match="offset 2"):
        log.read("t", 0, 2)
    log.close()
