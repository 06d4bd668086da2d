"""Every stateful operator's state survives a restart exactly: a query stopped half-way and
restarted from its checkpoint (no rebuild: the processing log says none happened) gives the same
outputs as one that never stopped. The state is data (engine.state.snapshot), so this covers each
kind of section: numpy and Arrow fragments, collection accumulators over decimals, timestamps,
structs, maps and arrays, struct group keys, sessions, table-source undo rows, join sides, held
outer join rows and a Python UDAF's JSON accumulator."""
from __future__ import annotations

import json

import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.expressions import python_udf
from pyksqlite.udf import udaf

PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"}
STREAMS = [
    "CREATE STREAM s (k STRING KEY, g INT, v INT, d DECIMAL(6, 2), t TIMESTAMP, st STRUCT<a INT, b STRING>, "
    "m MAP<STRING, INT>, arr ARRAY<INT>) WITH (kafka_topic='s', value_format='JSON', partitions=1);",
    "CREATE TABLE tt (id INT PRIMARY KEY, g INT, v INT) WITH (kafka_topic='tt', value_format='JSON', partitions=1);",
    "CREATE STREAM l (id INT KEY, a STRING) WITH (kafka_topic='l', value_format='JSON', partitions=1);",
    "CREATE STREAM r (id INT KEY, b STRING) WITH (kafka_topic='r', value_format='JSON', partitions=1);",
    "CREATE TABLE u (id INT PRIMARY KEY, name STRING, team INT) WITH (kafka_topic='u', value_format='JSON', partitions=1);",
    "CREATE TABLE teams (tid INT PRIMARY KEY, label STRING) WITH (kafka_topic='teams', value_format='JSON', partitions=1);",
]

QUERIES = {
    "collections": "CREATE TABLE c AS SELECT g, COLLECT_LIST(d) AS dl, COLLECT_SET(st) AS ss, COLLECT_LIST(m) AS ml, "
                   "COLLECT_LIST(t) AS tl, TOPK(v, 2) AS tk, TOPK(v, d, 2) AS tk2, HISTOGRAM(k) AS h, "
                   "COUNT_DISTINCT(arr) AS cd, EARLIEST_BY_OFFSET(v, 2) AS e2, LATEST_BY_OFFSET(st) AS ls, "
                   "ATTR(g) AS at, COUNT(*) AS n FROM s GROUP BY g;",
    "windowed_collections": "CREATE TABLE w AS SELECT g, COLLECT_LIST(v) AS vs, COUNT(*) AS n FROM s "
                            "WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 5 SECONDS) GROUP BY g;",
    "struct_keys": "CREATE TABLE sk WITH (KEY_FORMAT='JSON') AS SELECT st, COLLECT_LIST(v) AS vs, SUM(d) AS sd "
                   "FROM s GROUP BY st;",
    "sessions": "CREATE TABLE se AS SELECT k, COUNT(*) AS n, COLLECT_LIST(v) AS vs, SUM(d) AS sd, MAX(v) AS hi "
                "FROM s WINDOW SESSION (5 SECONDS) GROUP BY k;",
    "table_source": "CREATE TABLE ta AS SELECT g, SUM(v) AS sv, COUNT(*) AS n, COLLECT_LIST(v) AS vs FROM tt GROUP BY g;",
    "numpy_hopping": "CREATE TABLE f AS SELECT g, COUNT(*) AS n, SUM(v) AS total, MAX(v) AS hi, AVG(v) AS mean FROM s "
                     "WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 5 SECONDS) GROUP BY g;",
    "keyed_arrow": "CREATE TABLE ka AS SELECT k, COUNT(*) AS n, SUM(d) AS sd, MIN(t) AS first_t FROM s GROUP BY k;",
    "stream_stream_grace": "CREATE STREAM j AS SELECT l.id AS id, a, b FROM l LEFT JOIN r WITHIN 2 SECONDS "
                           "GRACE PERIOD 1 SECONDS ON l.id = r.id;",
    "stream_table": "CREATE STREAM st_j AS SELECT l.id AS id, a, name FROM l JOIN u ON l.id = u.id;",
    "table_table_where": "CREATE TABLE tj AS SELECT u.id AS id, name, label FROM u LEFT JOIN teams "
                         "ON u.team = teams.tid WHERE name <> 'hidden';",
    "foreign_key": "CREATE TABLE fk AS SELECT u.id AS id, name, label FROM u JOIN teams ON u.team = teams.tid;",
    "table_table": "CREATE TABLE tt_j AS SELECT ROWKEY AS id, name, label FROM u FULL OUTER JOIN teams ON u.id = teams.tid;",
    "udaf": "CREATE TABLE ud AS SELECT g, T_SPREAD(v) AS spread FROM s GROUP BY g;",
}
SINKS = {"collections": "C", "windowed_collections": "W", "struct_keys": "SK", "sessions": "SE",
         "table_source": "TA", "numpy_hopping": "F", "keyed_arrow": "KA", "stream_stream_grace": "J",
         "stream_table": "ST_J", "table_table_where": "TJ", "foreign_key": "FK", "table_table": "TT_J",
         "udaf": "UD"}
STREAM_SINKS = {"J", "ST_J"}


class SpreadState:
    """A UDAF keeping a dict with a list and infinities in its accumulator (JSON data)."""

    def initialize(self):
        return {"low": float("inf"), "high": float("-inf"), "seen": []}

    def aggregate(self, acc, value):
        if value is None:
            return acc
        return {"low": min(acc["low"], value), "high": max(acc["high"], value),
                "seen": (acc["seen"] + [value])[-3:]}

    def merge(self, a, b):
        return {"low": min(a["low"], b["low"]), "high": max(a["high"], b["high"]), "seen": (a["seen"] + b["seen"])[-3:]}

    def map(self, acc):
        return f"{acc['low']}..{acc['high']} last {acc['seen']}"


@pytest.fixture(autouse=True, scope="module")
def spread_udaf():
    udaf("T_SPREAD", params=["INT"], returns="STRING")(SpreadState)
    yield
    python_udf.unregister_function("T_SPREAD")


def _records(part: int) -> list[TestRecord]:
    base = part * 50
    out = []
    for i in range(base, base + 50):
        value = {"g": i % 4, "v": (i * 37) % 101, "d": f"{(i * 7) % 1000 / 100:.2f}", "t": 1_700_000_000_000 + i * 997,
                 "st": {"a": i % 3, "b": f"b{i % 2}"}, "m": {f"x{i % 3}": i}, "arr": [i % 5, i % 2]}
        out.append(TestRecord("s", f"k{i % 6}", value, timestamp=i * 700))
        out.append(TestRecord("tt", i % 9, None if i % 11 == 0 else {"g": i % 3, "v": i}, timestamp=i * 700))
        out.append(TestRecord("l", i % 7, {"a": f"a{i}"}, timestamp=i * 700))
        if i % 3 == 0:
            out.append(TestRecord("r", (i + 1) % 7, {"b": f"b{i}"}, timestamp=i * 700 + 300))
        if i % 5 == 0:
            out.append(TestRecord("u", i % 7, {"name": "hidden" if i % 4 == 0 else f"n{i}", "team": i % 3},
                                  timestamp=i * 700))
            out.append(TestRecord("teams", i % 3, {"label": f"team{i}"}, timestamp=i * 700))
    return out


def _outputs(engine: Engine) -> dict:
    """Per sink: a stream's records in order; a table's last value per (key, window)."""
    result = {}
    for sink in SINKS.values():
        records = engine.read_topic_records(engine.catalog.get_source(sink).topic)
        if sink in STREAM_SINKS:
            result[sink] = [(json.dumps(r.key), json.dumps(r.value, sort_keys=True), r.timestamp) for r in records]
            continue
        table = {}
        for r in records:
            key = json.dumps([r.key, r.window], sort_keys=True, default=str)
            table[key] = r.value
        result[sink] = {k: v for k, v in table.items() if v is not None}
    return result


def _run(data_dir, restart: bool) -> dict:
    engine = Engine(str(data_dir), PROPERTIES)
    for statement in STREAMS + list(QUERIES.values()):
        engine.execute(statement)
    engine.produce_test_records(_records(0))
    engine.run_until_idle()
    if restart:
        engine.close()
        engine = Engine(str(data_dir), PROPERTIES)
        assert all(task.state == "RUNNING" for task in engine.scheduler.tasks.values())
    engine.produce_test_records(_records(1))
    engine.run_until_idle()
    rebuilt = [entry for entry in engine.processing_log() if entry["type"] == "STATE"]
    outputs = _outputs(engine)
    engine.close()
    assert not rebuilt, rebuilt
    return outputs


def test_every_operator_resumes_from_its_checkpoint_exactly(tmp_path):
    restarted = _run(tmp_path / "restarted", restart=True)
    straight = _run(tmp_path / "straight", restart=False)
    assert restarted.keys() == straight.keys()
    for sink in SINKS.values():
        assert straight[sink], f"{sink} produced nothing: the test would prove nothing"
        assert restarted[sink] == straight[sink], sink


def test_a_udaf_accumulator_that_is_not_json_data_fails_its_query_with_a_clear_message(tmp_path):
    class Pairs:
        def initialize(self):
            return (0, 0)

        def aggregate(self, acc, value):
            return (acc[0] + 1, acc[1] + (value or 0))

        def merge(self, a, b):
            return (a[0] + b[0], a[1] + b[1])

        def map(self, acc):
            return acc[1]

    udaf("T_PAIRS", params=["INT"], returns="BIGINT")(Pairs)
    try:
        engine = Engine(str(tmp_path), {**PROPERTIES, "ksqlite.checkpoint.interval.ms": 0})
        engine.execute(STREAMS[0])
        engine.execute("CREATE TABLE p AS SELECT g, T_PAIRS(v) AS total FROM s GROUP BY g;")
        engine.produce_test_records([r for r in _records(0) if r.topic == "s"])
        engine.run_until_idle()
        task = next(iter(engine.scheduler.tasks.values()))
        assert task.state == "ERROR"
        assert "UDAF T_PAIRS" in task.error and "tuple is not JSON data" in task.error
        engine.close()
    finally:
        python_udf.unregister_function("T_PAIRS")
