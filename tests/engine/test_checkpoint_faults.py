"""Checkpoints under faults: verified, and never a silent start from empty state.

The rule: a stateful query whose checkpoint is missing (while its group committed offsets) or
corrupt (flipped bytes, cut short, a blob gone or changed) rebuilds its state by replaying its
inputs from the start of the log, says so in the processing log naming the file, and ends with
exactly the table of a run that was never disturbed; the other queries restore as usual. If
even the rebuild cannot happen, only that query goes to ERROR with a message naming the files,
and the engine and the other queries start. Real engines on real files."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.log.api import TopicConfig

PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none",
              "ksqlite.checkpoint.interval.ms": 0}
STATEMENTS = [
    "CREATE STREAM s (k STRING KEY, g INT, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);",
    # numpy fragments (integer key, record cache on), windowed: Stored blobs of numpy columns
    "CREATE TABLE fast AS SELECT g, COUNT(*) AS n, SUM(v) AS total FROM s "
    "WINDOW TUMBLING (SIZE 20 SECONDS) GROUP BY g;",
    # Arrow fragments and collection accumulators
    "CREATE TABLE general AS SELECT k, COUNT(*) AS n, COLLECT_LIST(v) AS vs FROM s GROUP BY k;",
]
DISTURBED, UNDISTURBED = "CTAS_FAST_0", "CTAS_GENERAL_1"


def _records(start: int, count: int) -> list[TestRecord]:
    return [TestRecord("s", f"k{i % 7}", {"g": i % 5, "v": (i * 13) % 97}, timestamp=i * 1000)
            for i in range(start, start + count)]


def _tables(engine: Engine) -> dict:
    tables = {}
    for name in ("FAST", "GENERAL"):
        latest = {}
        for record in engine.read_topic_records(name):
            latest[repr((record.key, record.window))] = record.value
        tables[name] = {k: v for k, v in latest.items() if v is not None}
    return tables


def _first_run(data_dir: Path) -> Path:
    engine = Engine(data_dir, PROPERTIES)
    for statement in STATEMENTS:
        engine.execute(statement)
    engine.produce_test_records(_records(0, 60))
    engine.run_until_idle()
    engine.close()
    return data_dir / "state" / DISTURBED / "checkpoint.state"


def _second_run(data_dir: Path) -> tuple[dict, list[dict], Engine]:
    engine = Engine(data_dir, PROPERTIES)
    engine.produce_test_records(_records(60, 40))
    engine.run_until_idle()
    return _tables(engine), engine.processing_log(), engine


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory) -> dict:
    data_dir = tmp_path_factory.mktemp("undisturbed")
    _first_run(data_dir)
    tables, notes, engine = _second_run(data_dir)
    engine.close()
    assert not [n for n in notes if n["type"] == "STATE"]
    assert tables["FAST"] and tables["GENERAL"]
    return tables


def _flip(path: Path, at: float) -> None:
    data = bytearray(path.read_bytes())
    position = int(len(data) * at)
    data[position:position + 4] = bytes(b ^ 0x5A for b in data[position:position + 4])
    path.write_bytes(bytes(data))


def _a_blob(checkpoint: Path) -> Path:
    return sorted((checkpoint.parent / (checkpoint.name + ".blobs")).iterdir())[0]


DISTURBANCES = {
    "deleted": lambda checkpoint: checkpoint.unlink(),
    "flipped_header": lambda checkpoint: _flip(checkpoint, 0.1),
    "flipped_body": lambda checkpoint: _flip(checkpoint, 0.8),
    "truncated": lambda checkpoint: os.truncate(checkpoint, checkpoint.stat().st_size // 2),
    "empty": lambda checkpoint: os.truncate(checkpoint, 0),
    "blob_deleted": lambda checkpoint: _a_blob(checkpoint).unlink(),
    "blob_flipped": lambda checkpoint: _flip(_a_blob(checkpoint), 0.7),
    "blob_swapped": lambda checkpoint: _swap_blob_content(checkpoint),
    "a_directory": lambda checkpoint: (checkpoint.unlink(), checkpoint.mkdir()),
}


def _swap_blob_content(checkpoint: Path) -> None:
    """A blob that is itself a valid container, but not the one the checkpoint names."""
    blobs = sorted((checkpoint.parent / (checkpoint.name + ".blobs")).iterdir())
    general = checkpoint.parent.parent / UNDISTURBED / "checkpoint.state.blobs"
    other = sorted(general.iterdir())[0]
    shutil.copy(other, blobs[0])


@pytest.mark.parametrize("disturbance", sorted(DISTURBANCES))
def test_a_lost_or_corrupt_checkpoint_rebuilds_the_same_table(tmp_path, undisturbed, disturbance):
    checkpoint = _first_run(tmp_path)
    DISTURBANCES[disturbance](checkpoint)
    tables, notes, engine = _second_run(tmp_path)
    try:
        assert {q: t.state for q, t in engine.scheduler.tasks.items()} == {DISTURBED: "RUNNING", UNDISTURBED: "RUNNING"}
        state_notes = [n for n in notes if n["type"] == "STATE"]
        assert [n["query"] for n in state_notes] == [DISTURBED]      # the other query restored as usual
        message = state_notes[0]["message"]
        assert str(checkpoint) in message and "rebuilding its state by replaying its inputs" in message
        if disturbance != "deleted":
            assert checkpoint.with_name("checkpoint.state.corrupt").exists()   # kept for inspection
        assert tables == undisturbed
    finally:
        engine.close()
    # ... and the rebuilt state was checkpointed: the next start restores it without a word.
    engine = Engine(tmp_path, PROPERTIES)
    engine.run_until_idle()
    assert not [n for n in engine.processing_log() if n["type"] == "STATE"]
    assert _tables(engine) == undisturbed
    engine.close()


def test_a_query_that_cannot_even_rebuild_goes_to_error_alone(tmp_path, undisturbed):
    checkpoint = _first_run(tmp_path)
    checkpoint.unlink()
    offsets = next((tmp_path / "log" / "groups").glob(f"*{DISTURBED}*")) / "offsets.json"
    offsets.write_bytes(b"\x00garbage{")
    tables, _, engine = _second_run(tmp_path)
    try:
        disturbed, other = engine.scheduler.tasks[DISTURBED], engine.scheduler.tasks[UNDISTURBED]
        assert disturbed.state == "ERROR" and other.state == "RUNNING"
        assert str(checkpoint) in disturbed.error and str(offsets) in disturbed.error
        assert tables["GENERAL"] == undisturbed["GENERAL"]
        listed = {q["id"]: q["state"] for q in engine.execute("SHOW QUERIES;")[0].entity["queries"]}
        assert listed == {DISTURBED: "ERROR", UNDISTURBED: "RUNNING"}
    finally:
        engine.close()


def test_a_rebuild_from_inputs_that_retention_cut_says_so(tmp_path):
    engine = Engine(tmp_path, PROPERTIES)
    engine.log.create_topic("s", TopicConfig(partitions=1, segment_bytes=2048, retention_ms=60_000))
    for statement in STATEMENTS[:2]:
        engine.execute(statement)
    for start in range(0, 200, 20):                    # many small segments
        engine.produce_test_records(_records(start, 20))
    engine.run_until_idle()
    engine.close()
    checkpoint = tmp_path / "state" / DISTURBED / "checkpoint.state"
    checkpoint.unlink()
    engine = Engine(tmp_path, PROPERTIES)
    engine.log.run_maintenance(now_ms=10 ** 13)       # every closed segment is past retention
    engine.close()

    engine = Engine(tmp_path, PROPERTIES)
    try:
        engine.run_until_idle()
        task = engine.scheduler.tasks[DISTURBED]
        assert task.state == "RUNNING"
        assert "no longer reach back to offset 0 (s-0 starts at offset" in task.warning
        notes = [n["message"] for n in engine.processing_log() if n["type"] == "STATE"]
        assert len(notes) == 1 and "records deleted by retention are missing" in notes[0]
    finally:
        engine.close()


def test_a_partition_task_whose_changelog_is_lost_rebuilds_from_the_start(tmp_path):
    properties = {**PROPERTIES, "ksqlite.partitioned.tasks": True}
    statements = ["CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=2);",
                  "CREATE TABLE t AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM s GROUP BY k;"]
    records = [TestRecord("s", f"k{i % 6}", {"v": i}, timestamp=i) for i in range(90)]
    engine = Engine(tmp_path, properties)
    for statement in statements:
        engine.execute(statement)
    engine.produce_test_records(records[:60])
    engine.run_until_idle()
    changelog = next(t for t in engine.log.list_topics() if t.endswith("-changelog"))
    engine.log.delete_topic(changelog)
    engine.close()

    engine = Engine(tmp_path, properties)
    engine.produce_test_records(records[60:])
    engine.run_until_idle()
    table = {k: (n, total) for k, n, total in engine.pull_query("SELECT * FROM t;").rows}
    engine.close()
    assert table == {f"k{k}": (15, sum(range(k, 90, 6))) for k in range(6)}
