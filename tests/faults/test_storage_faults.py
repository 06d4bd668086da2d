"""Storage faults under exactly_once_v2, each with its expected outcome, on the pipeline of
`pipeline` (filter + second writer, windowed aggregation, stream-table join) over 20k events.

The log-level behaviour of each fault is tested where it is built (tests/log/test_corruption.py,
test_crash_recovery.py, test_disk_full.py; tests/engine/test_checkpoint_faults.py); here the same
faults meet running exactly-once queries:
- a deleted or corrupt checkpoint: the state is rebuilt from the inputs and the outputs of the
  records before the committed offsets are not written again (nothing lost, nothing twice);
- flipped bytes in an input: the query reading them goes to ERROR naming topic, partition and
  offset, with none of its uncommitted outputs visible; the other queries run on;
- a truncated output segment: a reported loss (reading it is an error naming the offsets); its
  offsets are never handed out again, and the queries go on writing after them;
- a full disk: the queries pause with their transactions kept, resume when there is space, and
  nothing is lost or written twice;
- a corrupt transaction commit record: that query goes to ERROR naming the file; the others run.
"""
import time
from pathlib import Path

import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.log import EmbeddedLog
from pyksqlite.log.api import CorruptRecordError
from pyksqlite.log.embedded.groups import OffsetStore
from pyksqlite.runtime.query_task import ERROR, PAUSED, RUNNING
from tests.faults import pipeline
from tests.log.small_disk import SmallDisk

COUNT = 20_000
PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none",
              "processing.guarantee": "exactly_once_v2"}


def open_engine(data_dir: Path, guarantee: str = "exactly_once_v2") -> Engine:
    engine = Engine(data_dir, {**PROPERTIES, "processing.guarantee": guarantee})
    pipeline.create(engine)
    return engine


def feed(engine: Engine) -> None:
    """Append all users, then all events: all there before the queries run, so that the join's
    record order (by timestamp across its inputs) is the as-of order the expectation assumes."""
    pipeline.append_all(engine.log, "users", pipeline.user_records())
    pipeline.append_all(engine.log, "events", pipeline.event_records(COUNT))


def run_partly(engine: Engine, steps: int = 10, batch: int = 1000) -> None:
    """Process some of the input, in small batches (then `close` commits it)."""
    for task in engine.scheduler.tasks.values():
        task.max_batch = batch
    for _ in range(steps):
        engine.scheduler.step_all()


def run_until_caught_up(engine: Engine, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not engine.caught_up() or PAUSED in states(engine).values():
        engine.run_until_idle(timeout=10)
        assert time.monotonic() < deadline, "the queries did not catch up"
        time.sleep(0.01)


def figures(engine: Engine) -> pipeline.Figures:
    expected = pipeline.expected(pipeline.users(), pipeline.events(COUNT))
    return pipeline.compare(engine.log, expected, set(), set(), pipeline.Figures(records=COUNT))


def assert_exact(result: pipeline.Figures) -> None:
    assert result.lost == {"BIG": 0, "ENRICHED": 0}
    assert result.duplicated == {"BIG": 0, "ENRICHED": 0}
    assert result.wrong == {"BIG": 0, "ENRICHED": 0, "PER_USER": 0}


def states(engine: Engine) -> dict[str, str]:
    return {query_id: task.state for query_id, task in engine.scheduler.tasks.items()}


@pytest.mark.parametrize("guarantee", ["exactly_once_v2", "at_least_once"])
@pytest.mark.parametrize("damage", ["deleted", "corrupt"])
def test_a_lost_checkpoint_rebuilds_the_state_with_nothing_written_twice(tmp_path, damage, guarantee,
                                                                         report_figures):
    """Under at-least-once too: the outputs before the committed offsets are held back."""
    engine = open_engine(tmp_path, guarantee)
    feed(engine)
    run_partly(engine)
    engine.close()
    checkpoints = sorted(tmp_path.glob("state/*/checkpoint.state"))
    assert len(checkpoints) == 2   # the aggregation's and the join's
    for checkpoint in checkpoints:
        if damage == "deleted":
            checkpoint.unlink()
        else:
            data = bytearray(checkpoint.read_bytes())
            data[len(data) // 2] ^= 0xFF
            checkpoint.write_bytes(bytes(data))
    engine = open_engine(tmp_path, guarantee)
    try:
        run_until_caught_up(engine)
        result = figures(engine)
        rebuilt = [e for e in engine.processing_log() if "rebuilding its state" in str(e)]
    finally:
        engine.close()
    report_figures(f"{guarantee}, {damage} checkpoints of the aggregation and the join: "
                   f"{len(rebuilt)} states rebuilt; " + result.summary("").split("; ", 1)[1])
    assert len(rebuilt) == 2
    assert_exact(result)
    if damage == "corrupt":
        assert all(Path(f"{c}.corrupt").exists() for c in checkpoints)


def test_flipped_bytes_in_an_input_stop_only_the_query_reading_them_and_show_none_of_its_open_outputs(tmp_path):
    engine = open_engine(tmp_path)
    feed(engine)
    run_until_caught_up(engine)
    engine.close()
    segment = next((tmp_path / "log" / "topics" / "events" / "0").glob("*.log"))
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))
    engine = open_engine(tmp_path)
    try:
        first_damaged = engine.log.partition("events", 0).damaged[0].first
        engine.execute("CREATE STREAM late AS SELECT uid, id FROM events;")
        engine.run_until_idle(timeout=60)
        late_id = next(q for q in engine.scheduler.tasks if q.startswith("CSAS_LATE"))
        late = engine.scheduler.tasks[late_id]
        assert late.state == ERROR and f"topic 'events' partition 0 at offsets {first_damaged}-" in late.error
        # Visible: exactly the outputs of the records its committed offsets cover (one per record).
        group = next((tmp_path / "log" / "groups").glob(f"*{late_id}"))
        committed = OffsetStore(group).load()
        assert committed.get(("events", 0), 0) <= first_damaged
        assert pipeline.read_topic(engine.log, "LATE").num_rows == sum(committed.values())
        assert {q: s for q, s in states(engine).items() if q != late_id} == \
            {q: RUNNING for q in engine.scheduler.tasks if q != late_id}
        before = engine.log.end_offsets("BIG")
        engine.execute("INSERT INTO events (uid, id, amount, ROWTIME) VALUES (1, 999999, 950, 9000000000);")
        run_until_caught_up(engine)
        assert sum(engine.log.end_offsets("BIG")) == sum(before) + 1   # the others run on
    finally:
        engine.close()


def test_a_truncated_output_segment_is_a_reported_loss_whose_offsets_are_never_reused(tmp_path):
    engine = open_engine(tmp_path)
    feed(engine)
    run_partly(engine)
    engine.close()   # commits what it processed
    log = EmbeddedLog(tmp_path / "log")
    end = log.end_offsets("ENRICHED")[0]
    log.close()
    segment = next((tmp_path / "log" / "topics" / "ENRICHED" / "0").glob("*.log"))
    with open(segment, "r+b") as f:
        f.truncate(segment.stat().st_size // 2)
    engine = open_engine(tmp_path)
    try:
        assert engine.log.end_offsets("ENRICHED")[0] == end
        lost = engine.log.partition("ENRICHED", 0).damaged[-1]
        assert lost.last == end - 1 and "acknowledged records missing" in lost.reason
        with pytest.raises(CorruptRecordError, match=f"topic 'ENRICHED' partition 0 at offsets {lost.first}-"):
            engine.log.read("ENRICHED", 0, lost.first)
        run_until_caught_up(engine)
        assert set(states(engine).values()) == {RUNNING}
        after = engine.log.read("ENRICHED", 0, end)
        assert after.num_rows and after.column("offset")[0].as_py() == end   # new records after the loss
    finally:
        engine.close()


@pytest.fixture
def disk(tmp_path):
    """A 32 MiB tmpfs (root only), as tests/log/small_disk.py mounts a smaller one."""
    import os
    import subprocess
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield SmallDisk(mount_point)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_pauses_the_queries_and_they_resume_with_nothing_lost_or_doubled(disk, report_figures):
    engine = open_engine(disk.path / "data")
    try:
        feed(engine)
        disk.fill()
        engine.run_until_idle(timeout=60)
        paused = states(engine)
        assert set(paused.values()) == {PAUSED}
        assert all("the disk is full" in task.error for task in engine.scheduler.tasks.values())
        assert sum(engine.log.end_offsets("BIG")) == sum(engine.log.end_offsets("ENRICHED")) == 0
        disk.free()
        run_until_caught_up(engine)
        assert set(states(engine).values()) == {RUNNING}
        result = figures(engine)
    finally:
        engine.close()
    report_figures(f"exactly_once_v2, full disk: {len(paused)} queries paused and resumed; "
                   + result.summary("").split("; ", 1)[1])
    assert_exact(result)


def test_a_corrupt_commit_record_stops_only_its_query(tmp_path):
    engine = open_engine(tmp_path)
    feed(engine)
    run_partly(engine)
    engine.close()
    record = next((tmp_path / "log" / "groups").glob("*CSAS_BIG_*/transaction"))
    data = bytearray(record.read_bytes())
    data[-2] ^= 0xFF
    record.write_bytes(bytes(data))
    engine = open_engine(tmp_path)
    try:
        engine.run_until_idle(timeout=60)
        big = next(t for q, t in engine.scheduler.tasks.items() if q.startswith("CSAS_BIG"))
        assert big.state == ERROR and f"{record} is corrupt" in big.error
        others = {q: s for q, s in states(engine).items() if not q.startswith("CSAS_BIG")}
        assert set(others.values()) == {RUNNING}
        run_until_caught_up(engine)
        assert pipeline.read_topic(engine.log, "ENRICHED").num_rows == COUNT
    finally:
        engine.close()
