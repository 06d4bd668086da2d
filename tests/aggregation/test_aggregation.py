"""Aggregations end to end through the Engine: GROUP BY on streams and tables, windows, HAVING,
restart after SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.facade.pull import _read_all

ROOT = Path(__file__).resolve().parents[2]


def changelog(engine, topic):
    records = _read_all(engine, topic)
    values = [None if v is None else json.loads(v) for v in records.column("value").to_pylist()]
    return list(zip(records.column("key").to_pylist(), values))


@pytest.fixture
def engine(tmp_path):
    e = Engine(str(tmp_path), properties={"ksql.streams.cache.max.bytes.buffering": 0})
    yield e
    e.close()


def insert(engine, stream, columns, rows):
    for row in rows:
        values = ", ".join("NULL" if v is None else ("'" + v + "'" if isinstance(v, str) else repr(v)) for v in row)
        engine.execute(f"INSERT INTO {stream} ({columns}) VALUES ({values});")
        engine.run_until_idle()


def test_stream_group_by_emits_every_update(engine):
    engine.execute("CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE t AS SELECT v, COUNT(*) AS n, SUM(v) AS total FROM s GROUP BY v;")
    insert(engine, "s", "k, v", [("a", 1), ("b", 2), ("c", 1), ("d", None)])
    assert [v for _, v in changelog(engine, "T")] == [{"N": 1, "TOTAL": 1}, {"N": 1, "TOTAL": 2},
                                                       {"N": 2, "TOTAL": 2}]


def test_table_source_retracts_old_rows(engine):
    engine.execute("CREATE TABLE src (id STRING PRIMARY KEY, name STRING) WITH (kafka_topic='src', "
                   "value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE t AS SELECT name, COUNT(*) AS n FROM src GROUP BY name;")
    insert(engine, "src", "id, name", [("0", "bob"), ("0", "john"), ("1", "john")])
    assert [(k, v["N"]) for k, v in changelog(engine, "T")] == [
        (b"bob", 1), (b"bob", 0), (b"john", 1), (b"john", 2)]


def test_having_emits_tombstone_when_a_group_stops_matching(engine):
    engine.execute("CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE t AS SELECT k, SUM(v) AS total FROM s GROUP BY k HAVING SUM(v) > 10;")
    insert(engine, "s", "k, v", [("a", 5), ("a", 6), ("a", -1), ("a", 1)])
    assert [v for _, v in changelog(engine, "T")] == [{"TOTAL": 11}, None, {"TOTAL": 11}]


def test_tumbling_window_drops_late_records_by_stream_time(engine):
    engine.execute("CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE t AS SELECT k, COUNT(*) AS n FROM s "
                   "WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 0 SECONDS) GROUP BY k;")
    insert(engine, "s", "k, v, ROWTIME", [("a", 1, 1000), ("b", 1, 12000), ("a", 1, 2000), ("a", 1, 13000)])
    rows = changelog(engine, "T")
    assert [v["N"] for _, v in rows] == [1, 1, 1]   # the record at 2000 is late: stream time is 12000


def test_session_windows_merge_with_tombstones(engine):
    engine.execute("CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE t AS SELECT k, COUNT(*) AS n FROM s WINDOW SESSION (5 SECONDS) GROUP BY k;")
    insert(engine, "s", "k, v, ROWTIME", [("a", 1, 0), ("a", 1, 1000), ("a", 1, 60000)])
    assert [v for _, v in changelog(engine, "T")] == [{"N": 1}, None, {"N": 2}, {"N": 1}]


def test_final_table_survives_sigkill(tmp_path):
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    rows = [(f"k{i % 7}", i) for i in range(400)]  # kill_worker.ROWS

    def produce(engine):
        for k, v in rows:
            engine.execute(f"INSERT INTO s (k, v) VALUES ('{k}', {v});")

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = [sys.executable, str(Path(__file__).with_name("kill_worker.py"))]
    process = subprocess.Popen(worker + [str(killed_dir), "create"], stdout=subprocess.PIPE, env=env, cwd=ROOT)
    assert process.stdout.readline().strip() == b"ready"
    time.sleep(0.05)  # part of the way through the 8 batches of 50
    process.send_signal(signal.SIGKILL)
    process.wait()
    subprocess.run(worker + [str(killed_dir), "resume"], check=True, env=env, cwd=ROOT)

    clean = Engine(str(clean_dir), properties={})
    clean.execute("CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    clean.execute("CREATE TABLE t AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM s GROUP BY k;")
    produce(clean)
    clean.run_until_idle()
    expected = dict(changelog(clean, "T"))
    clean.close()
    resumed = Engine(str(killed_dir), properties={})
    actual = dict(changelog(resumed, "T"))
    resumed.close()
    assert actual == expected
    assert sum(v["N"] for v in actual.values()) == len(rows)
