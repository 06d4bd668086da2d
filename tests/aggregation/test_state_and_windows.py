"""The keyed state store's upserts, window expiry and snapshots; coalesced emission with the
record cache on; hopping windows; windowed sources' WINDOWSTART/WINDOWEND."""
import numpy as np
import pyarrow as pa
import pytest

from pyksqlite.common.duck import connection
from pyksqlite.facade.engine import Engine
from pyksqlite.state.keyed import KeyedTable
from pyksqlite.state.snapshot import decode, to_bytes

from tests.aggregation.test_aggregation import changelog


def state_rows(store: KeyedTable) -> list[tuple]:
    table = store.table
    return sorted(zip(*[table.column(c).to_pylist() for c in table.column_names])) if table is not None else []


def test_keyed_table_upserts_only_the_batch_keys():
    store = KeyedTable(["g0", "__wstart"], "__wstart")
    con = connection()
    store.merge(con, pa.table({"g0": [1, 2], "__wstart": [0, 0], "c0": [10, 20]}))
    store.merge(con, pa.table({"g0": [2, 3], "__wstart": [0, 1000], "c0": [21, 30]}))
    store.merge(con, pa.table({"g0": [1], "__wstart": [0], "c0": [0]}), keep=pa.chunked_array([[False]]))
    assert state_rows(store) == [(2, 0, 21), (3, 1000, 30)]
    closed = store.extract(500, lambda t: pa.array(np.asarray(t.column("__wstart")) < 500))
    assert closed.to_pylist() == [{"g0": 2, "__wstart": 0, "c0": 21}]
    restored = KeyedTable(["g0", "__wstart"], "__wstart")
    restored.restore(decode(to_bytes(store.snapshot())))
    assert state_rows(restored) == [(3, 1000, 30)]


def test_keyed_table_stays_a_few_fragments():
    store = KeyedTable(["g0"])
    con = connection()
    for i in range(50):
        store.merge(con, pa.table({"g0": [i % 7], "c0": [i]}))
    assert len(store.fragments) <= 9
    assert state_rows(store) == [(g, max(i for i in range(50) if i % 7 == g)) for g in range(7)]


def test_cache_on_coalesces_updates_per_batch(tmp_path):
    engine = Engine(str(tmp_path), properties={"ksql.streams.auto.offset.reset": "earliest"})
    try:
        engine.execute("CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', "
                       "partitions=1);")
        for v in (1, 2, 3):
            engine.execute(f"INSERT INTO s (k, v) VALUES ('a', {v});")
        engine.execute("CREATE TABLE t AS SELECT k, SUM(v) AS total FROM s "
                       "WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 5 SECONDS) GROUP BY k;")
        engine.run_until_idle()
        values = [v for _, v in changelog(engine, "T")]
        assert values and all(v == {"TOTAL": 6} for v in values)   # one row per window, the last value
    finally:
        engine.close()


@pytest.fixture
def engine(tmp_path):
    e = Engine(str(tmp_path), properties={"ksql.streams.cache.max.bytes.buffering": 0})
    yield e
    e.close()


def test_hopping_windows_hold_every_record_they_cover(engine):
    engine.execute("CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE t AS SELECT k, COUNT(*) AS n FROM s "
                   "WINDOW HOPPING (SIZE 3 SECONDS, ADVANCE BY 1 SECOND) GROUP BY k;")
    engine.execute("INSERT INTO s (k, v, ROWTIME) VALUES ('a', 1, 2500);")
    engine.execute("INSERT INTO s (k, v, ROWTIME) VALUES ('a', 1, 3500);")
    engine.run_until_idle()
    rows = engine.execute("SELECT k, WINDOWSTART, WINDOWEND, n FROM t;")[0].entity["rows"]
    assert sorted(rows) == [["a", 0, 3000, 1], ["a", 1000, 4000, 2], ["a", 2000, 5000, 2], ["a", 3000, 6000, 1]]


def test_windowed_table_pull_query_sees_window_bounds(engine):
    engine.execute("CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE t AS SELECT k, COUNT(*) AS n FROM s WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY k;")
    for k, ts in (("a", 100), ("a", 1100), ("b", 1200)):
        engine.execute(f"INSERT INTO s (k, v, ROWTIME) VALUES ('{k}', 1, {ts});")
    engine.run_until_idle()
    result = engine.execute("SELECT * FROM t WHERE k = 'a' AND WINDOWSTART >= 1000;")[0].entity
    assert [(c["name"], c["is_key"]) for c in result["columns"]] == [
        ("K", True), ("WINDOWSTART", True), ("WINDOWEND", True), ("N", False)]
    assert result["rows"] == [["a", 1000, 2000, 1]]
