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

from engine.log import EmbeddedLog, TopicConfig
from engine.log.segment import scan_batches
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
    entries, _ = scan_batches(segment, verify_crc=False)
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


def test_partial_header_partial_payload_and_bad_crc_are_cut(tmp_path):
    log = EmbeddedLog(tmp_path)
    log.create_topic("t")
    log.append("t", records(["a"] * 3, ["1", "2", "3"]))
    log.append("t", records(["b"] * 2, ["4", "5"]))
    log.close()
    segment = last_segment(tmp_path)
    whole = segment.read_bytes()
    second_batch = whole.index(b"KSL1", 1)

    for torn in (whole + b"KSL", whole[:-7], whole[:second_batch + 20]):
        segment.write_bytes(torn)
        log = EmbeddedLog(tmp_path)
        assert log.end_offsets("t") == ([5] if torn.startswith(whole) else [3])
        log.close()

    corrupt = bytearray(whole)
    corrupt[-3] ^= 0xFF
    segment.write_bytes(bytes(corrupt))
    log = EmbeddedLog(tmp_path)
    assert log.end_offsets("t") == [3]
    assert segment.stat().st_size == second_batch
    log.append("t", records(["c"], ["6"]))
    assert values_of(log.read("t", 0, 0)) == ["1", "2", "3", "6"]
