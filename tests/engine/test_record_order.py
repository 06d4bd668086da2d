"""Kafka Streams' record order on the real engine: a query started over topics that already hold
data, or far behind, processes its partitions' records in the order a query running all along
processed them (lowest timestamp first across partitions, offsets in order within one), whatever
its batch size; so it gives the same results."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.log.api import HEADER_TYPE, PRODUCE_SCHEMA

PROPS = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"}
USERS, EVENTS = 1_000, 200_000


def bigint_keys(values: np.ndarray) -> pa.Array:
    """KAFKA-format BIGINT keys (8 bytes, big-endian)."""
    raw = np.ascontiguousarray(values, dtype=">i8").tobytes()
    return pa.Array.from_buffers(pa.binary(8), len(values), [None, pa.py_buffer(raw)]).cast(pa.binary())


def append_json(engine, topic, keys: np.ndarray, member: str, values: np.ndarray, timestamps: np.ndarray):
    text = pc.binary_join_element_wise(f'{{"{member}":', pc.cast(pa.array(values), pa.string()), "}", "")
    engine.log.append(topic, pa.table([bigint_keys(keys), text.cast(pa.binary()), pa.array(timestamps, pa.int64()),
                                       pa.nulls(len(keys), HEADER_TYPE)], schema=PRODUCE_SCHEMA))


def sink_rows(engine, topic) -> pa.Table:
    values = []
    for partition, end in enumerate(engine.log.end_offsets(topic)):
        offset = engine.log.start_offsets(topic)[partition]
        while offset < end:
            batch = engine.log.read(topic, partition, offset, 100_000)
            values.append(batch.column("value"))
            offset = batch.column("offset")[-1].as_py() + 1
    lines = pc.binary_join_element_wise(pa.chunked_array(values).combine_chunks().cast(pa.string()),
                                        pa.scalar("\n"), "")
    return pa_json.read_json(pa.BufferReader(pa.py_buffer("".join(lines.to_pylist()).encode())))


@pytest.mark.parametrize("join, max_batch, partition_tasks", [
    ("INNER", 3_000, False), ("LEFT", 3_000, False), ("INNER", 100_000, False), ("LEFT", 100_000, False),
    ("LEFT", 3_000, True)])
def test_a_stream_table_join_created_over_existing_data_joins_every_record(tmp_path, join, max_batch,
                                                                           partition_tasks):
    # The table's rows (timestamp 0) come before every event in Kafka Streams' order, though a
    # partition of events alone holds more records than a batch (also with a task per partition).
    engine = Engine(tmp_path, {**PROPS, "ksqlite.partitioned.tasks": partition_tasks})
    engine.execute("CREATE TABLE users (id BIGINT PRIMARY KEY, name BIGINT) "
                   "WITH (kafka_topic='users', value_format='JSON', partitions=4);")
    engine.execute("CREATE STREAM events (uid BIGINT KEY, v BIGINT) "
                   "WITH (kafka_topic='events', value_format='JSON', partitions=4);")
    ids = np.arange(USERS, dtype=np.int64)
    append_json(engine, "users", ids, "NAME", ids + 1_000_000, np.zeros(USERS, np.int64))
    event_users = np.arange(EVENTS, dtype=np.int64) % USERS
    append_json(engine, "events", event_users, "V", np.arange(EVENTS), np.arange(1, EVENTS + 1))
    engine.execute(f"CREATE STREAM joined AS SELECT e.uid, e.v, u.name FROM events e {join} JOIN users u "
                   "ON e.uid = u.id;")
    for task in engine.scheduler.tasks.values():
        task.max_batch = max_batch
    engine.run_until_idle()
    rows = sink_rows(engine, "JOINED")
    assert rows.num_rows == EVENTS
    assert sorted(rows.column("V").to_pylist()) == list(range(EVENTS))
    assert rows.column("NAME").null_count == 0
    expected_names = rows.column("V").to_numpy() % USERS + 1_000_000
    assert np.array_equal(rows.column("NAME").to_numpy(), expected_names)
    engine.close()


def _per_partition(engine, topic) -> dict[int, list]:
    out: dict[int, list] = {}
    for record in engine.read_topic_records(topic):
        out.setdefault(record.partition, []).append((record.offset, record.key, record.value, record.timestamp))
    return {p: sorted(rows) for p, rows in out.items()}


def _run(path, statements, records, live, partition_tasks=False) -> dict[int, list]:
    """The query's sink, per partition, with its input fed live (one record at a time, each
    processed before the next arrives) or all in the log before the query is created (read in
    small batches)."""
    engine = Engine(path, {**PROPS, "cache.max.bytes.buffering": 0, "ksqlite.partitioned.tasks": partition_tasks})
    for statement in statements[:-1]:
        engine.execute(statement)
    if live:
        engine.execute(statements[-1])
        for record in records:
            engine.produce_test_records([record])
            engine.run_until_idle()
    else:
        engine.produce_test_records(records)
        engine.execute(statements[-1])
        for task in engine.scheduler.tasks.values():
            task.max_batch = 7
        engine.run_until_idle()
    result = _per_partition(engine, statements[-1].split()[2].upper())
    engine.close()
    return result


AGGREGATION = [
    "CREATE STREAM s (k BIGINT KEY, v BIGINT) WITH (kafka_topic='s', value_format='JSON', partitions=4);",
    "CREATE TABLE totals AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM s "
    "WINDOW TUMBLING (SIZE 100 MILLISECONDS, GRACE PERIOD 0 MILLISECONDS) GROUP BY k EMIT CHANGES;",
]


@pytest.mark.parametrize("partition_tasks", [False, True])
def test_an_aggregation_over_existing_data_equals_the_same_input_fed_live(tmp_path, partition_tasks):
    # Windows close by stream time: read partition by partition, most records would be late.
    records = [TestRecord("s", i % 13, {"V": i}, 1_000 + 7 * i) for i in range(150)]
    live = _run(tmp_path / "live", AGGREGATION, records, True, partition_tasks)
    assert live == _run(tmp_path / "filled", AGGREGATION, records, False, partition_tasks)
    assert sum(len(rows) for rows in live.values()) == 150


STREAM_STREAM = [
    "CREATE STREAM l (k BIGINT KEY, a BIGINT) WITH (kafka_topic='l', value_format='JSON', partitions=4);",
    "CREATE STREAM r (k BIGINT KEY, b BIGINT) WITH (kafka_topic='r', value_format='JSON', partitions=4);",
    "CREATE STREAM j AS SELECT l.k, a, b FROM l LEFT JOIN r WITHIN 30 MILLISECONDS GRACE PERIOD 5 MILLISECONDS "
    "ON l.k = r.k;",
]


def test_a_stream_stream_join_over_existing_data_equals_the_same_input_fed_live(tmp_path):
    # Records expire and unmatched left rows are emitted as stream time passes them.
    rng = np.random.default_rng(7)
    records = []
    for i in range(120):
        side = "l" if rng.random() < 0.5 else "r"
        member = "A" if side == "l" else "B"
        records.append(TestRecord(side, int(rng.integers(0, 9)), {member: i}, 1_000 + 11 * i))
    live = _run(tmp_path / "live", STREAM_STREAM, records, live=True)
    assert live == _run(tmp_path / "filled", STREAM_STREAM, records, live=False)
    assert sum(len(rows) for rows in live.values()) > 40


@pytest.mark.parametrize("checkpoint_ms", [0, 10 ** 9])
def test_a_join_killed_while_far_behind_and_restarted_joins_every_record(tmp_path, checkpoint_ms):
    # Killed with or without a checkpoint, the restarted query reads on (or again) in Kafka
    # Streams' order: no event is joined before the table rows that precede it.
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path
    events = 40_000
    engine = Engine(tmp_path, dict(PROPS))
    engine.execute("CREATE TABLE users (id BIGINT PRIMARY KEY, name BIGINT) "
                   "WITH (kafka_topic='users', value_format='JSON', partitions=4);")
    engine.execute("CREATE STREAM events (uid BIGINT KEY, v BIGINT) "
                   "WITH (kafka_topic='events', value_format='JSON', partitions=4);")
    ids = np.arange(USERS, dtype=np.int64)
    append_json(engine, "users", ids, "NAME", ids + 1_000_000, np.zeros(USERS, np.int64))
    append_json(engine, "events", np.arange(events, dtype=np.int64) % USERS, "V", np.arange(events),
                np.arange(1, events + 1))
    engine.close()
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root)] + sys.path))
    worker = subprocess.Popen([sys.executable, str(Path(__file__).with_name("order_kill_worker.py")),
                               str(tmp_path), str(checkpoint_ms)], stdout=subprocess.PIPE, env=env, cwd=root)
    consumed = 0
    while consumed < events // 3:
        line = worker.stdout.readline()
        assert line, "the worker ended before it was killed"
        consumed += int(line)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    engine = Engine(tmp_path, dict(PROPS))    # replays the query, which goes on from its last commit
    engine.run_until_idle()
    rows = sink_rows(engine, "JOINED")
    engine.close()
    assert rows.column("NAME").null_count == 0
    assert np.array_equal(rows.column("NAME").to_numpy(), rows.column("V").to_numpy() % USERS + 1_000_000)
    assert set(rows.column("V").to_pylist()) == set(range(events))


@pytest.mark.parametrize("properties, expected", [({}, 0), ({"ksql.streams.max.task.idle.ms": 250}, 250),
                                                  ({"max.task.idle.ms": -1}, -1)])
def test_max_task_idle_ms_is_kafka_streams_property_as_ksqldb_passes_it_through(tmp_path, properties, expected):
    engine = Engine(tmp_path, {**PROPS, **properties})
    engine.execute(AGGREGATION[0] + AGGREGATION[1])
    assert [task.group.max_task_idle_ms for task in engine.scheduler.tasks.values()] == [expected]
    engine.close()
