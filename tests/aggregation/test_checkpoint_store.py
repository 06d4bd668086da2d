"""Checkpoints that write immutable state once (engine.state.checkpoint_store): blobs are reused
across checkpoints, dropped when no longer referenced, inline outside checkpoint files; a
windowed numpy aggregation restarted from them ends with the same table as one that never stopped."""
import json
import os

import numpy as np
import pyarrow as pa

from pyksqlite.facade.engine import Engine
from pyksqlite.log.api import TopicConfig
from pyksqlite.state.checkpoint_store import CheckpointFile
from pyksqlite.state.snapshot import Snapshot, Stored, decode, to_bytes

from tests.aggregation.test_numpy_aggregation import STREAM, _chunks
from tests.aggregation.test_aggregation import _read_all


def _columns(n: int) -> Stored:
    return Stored(Snapshot().put_array("values", np.arange(n)).put_table("table", pa.table({"x": [1, 2, 3]})))


def test_a_stored_value_is_written_once_and_read_back(tmp_path):
    store = CheckpointFile(tmp_path / "checkpoint.state")
    columns = _columns(1000)
    store.write(Snapshot().put_children("fragments", [Snapshot().put_stored("columns", columns)])
                .put_array("mask", np.ones(3, dtype=bool)))
    blobs = os.listdir(store.blobs)
    first_inode = os.stat(store.blobs / blobs[0]).st_ino
    store.write(Snapshot().put_children("fragments", [Snapshot().put_stored("columns", columns)])
                .put_array("mask", np.zeros(3, dtype=bool)))
    assert os.listdir(store.blobs) == blobs
    assert os.stat(store.blobs / blobs[0]).st_ino == first_inode

    restored = CheckpointFile(tmp_path / "checkpoint.state").read()
    value = restored.children("fragments")[0].stored("columns")
    assert np.array_equal(value.value.array("values", np.int64), np.arange(1000))
    assert value.value.table("table").equals(columns.value.table("table"))
    assert not restored.array("mask", np.bool_).any()
    assert value.blob == blobs[0]


def test_blobs_no_checkpoint_names_are_deleted(tmp_path):
    store = CheckpointFile(tmp_path / "checkpoint.state")
    old, new = _columns(10), _columns(20)
    store.write(Snapshot().put_stored("c", old))
    (store.blobs / "left-by-a-crash").write_bytes(b"partial")
    reopened = CheckpointFile(tmp_path / "checkpoint.state")
    reopened.write(Snapshot().put_stored("c", new))
    assert os.listdir(store.blobs) == [new.blob]
    assert np.array_equal(reopened.read().stored("c").value.array("values", np.int64), np.arange(20))


def test_stored_values_are_inline_outside_checkpoint_files():
    copy = decode(to_bytes(Snapshot().put_stored("c", _columns(5))))
    stored = copy.stored("c")
    assert isinstance(stored, Stored) and stored.blob is None
    assert np.array_equal(stored.value.array("values", np.int64), np.arange(5))


def _run(data_dir, chunks, restart_after: int) -> dict:
    """Hopping aggregation (cache on: the numpy form) over the chunks, restarting the engine
    after `restart_after` of them; the last value per windowed key."""
    properties = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.checkpoint.interval.ms": 0}
    engine = Engine(str(data_dir), properties=properties)
    engine.log.create_topic("s", TopicConfig(partitions=2))
    engine.execute(STREAM)
    engine.execute("CREATE TABLE t AS SELECT g, COUNT(*) AS n, SUM(v) AS total, MAX(d) AS hi FROM s "
                   "WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 3 SECONDS, GRACE PERIOD 15 SECONDS) "
                   "GROUP BY g EMIT CHANGES;")
    for position, chunk in enumerate(chunks):
        if position == restart_after:
            engine.close()
            engine = Engine(str(data_dir), properties=properties)
        engine.log.append("s", chunk)
        engine.run_until_idle()
    records = _read_all(engine, "T")
    engine.close()
    return {k: None if v is None else json.loads(v)
            for k, v in zip(records.column("key").to_pylist(), records.column("value").to_pylist())}


def test_numpy_aggregation_resumes_from_its_checkpoint(tmp_path):
    chunks = _chunks(11, chunks=5)
    assert _run(tmp_path / "restarted", chunks, restart_after=3) == _run(tmp_path / "straight", chunks, -1)
