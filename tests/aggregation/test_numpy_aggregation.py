"""The numpy form of coalesced aggregations (engine.operators.aggregate_fast) against the
per-record form: with the record cache on, the last value per (key, window) must be the value
the cache-off query ends with, over several batches, out-of-order and late records, nulls."""
import json

import numpy as np
import pyarrow as pa
import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.log.api import HEADER_TYPE, PRODUCE_SCHEMA, TopicConfig
from pyksqlite.state.pair_index import PairIndex

from tests.aggregation.test_aggregation import _read_all

STREAM = ("CREATE STREAM s (id BIGINT, g BIGINT, v BIGINT, d DOUBLE, ts BIGINT) "
          "WITH (kafka_topic='s', value_format='JSON', timestamp='ts');")


def _chunks(seed: int, chunks: int = 4, per_chunk: int = 300) -> list[pa.Table]:
    rng = np.random.default_rng(seed)
    out = []
    for chunk in range(chunks):
        base = chunk * 40_000
        ts = base + rng.integers(-30_000, 40_000, per_chunk)      # out of order, some late
        ts = np.maximum(ts, 0)
        rows = []
        for i in range(per_chunk):
            v = "null" if rng.random() < 0.1 else str(int(rng.integers(-10**6, 10**6)))
            d = "null" if rng.random() < 0.1 else repr(float(rng.normal()))
            rows.append(f'{{"ID":{chunk * per_chunk + i},"G":{int(rng.integers(0, 12))},"V":{v},'
                        f'"D":{d},"TS":{int(ts[i])}}}'.encode())
        n = len(rows)
        out.append(pa.table([pa.nulls(n, pa.binary()), pa.array(rows, pa.binary()), pa.array(ts, pa.int64()),
                             pa.nulls(n, HEADER_TYPE)], schema=PRODUCE_SCHEMA))
    return out


def _final_rows(tmp_path, name: str, cache: int, query: str, chunks: list[pa.Table]) -> dict:
    engine = Engine(str(tmp_path / name), properties={"ksql.streams.auto.offset.reset": "earliest",
                                                       "ksql.streams.cache.max.bytes.buffering": cache})
    try:
        engine.log.create_topic("s", TopicConfig(partitions=2))
        engine.execute(STREAM)
        engine.execute(query)
        for chunk in chunks:     # each chunk reaches the query as batches of its own
            engine.log.append("s", chunk)
            engine.run_until_idle()
        records = _read_all(engine, "T")
        final = {}
        for key, value in zip(records.column("key").to_pylist(), records.column("value").to_pylist()):
            final[key] = None if value is None else json.loads(value)
        return final
    finally:
        engine.close()


@pytest.mark.parametrize("window", ["TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 20 SECONDS)",
                                    "HOPPING (SIZE 10 SECONDS, ADVANCE BY 3 SECONDS, GRACE PERIOD 15 SECONDS)",
                                    None])
def test_cache_on_ends_with_the_per_record_values(tmp_path, window):
    clause = f"WINDOW {window} " if window else ""
    query = (f"CREATE TABLE t AS SELECT g, COUNT(*) AS n, COUNT(v) AS nv, SUM(v) AS total, MIN(v) AS lo, "
             f"MAX(d) AS hi, AVG(d) AS mean, STDDEV_SAMPLE(v) AS sd FROM s {clause}GROUP BY g EMIT CHANGES;")
    chunks = _chunks(7)
    coalesced = _final_rows(tmp_path, "on", 10_000_000, query, chunks)
    per_record = _final_rows(tmp_path, "off", 0, query, chunks)
    assert coalesced.keys() == per_record.keys() and len(coalesced) >= 12
    for key, expected in per_record.items():
        actual = coalesced[key]
        assert actual.keys() == expected.keys()
        for column, value in expected.items():
            if value is None:
                assert actual[column] is None, (key, column)
            else:
                assert actual[column] == pytest.approx(value, rel=1e-9, abs=1e-9), (key, column)


def test_string_key_takes_the_general_form_with_the_same_values(tmp_path):
    query = ("CREATE TABLE t AS SELECT CAST(g AS STRING) AS k, SUM(v) AS total, MAX(d) AS hi FROM s "
             "WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY CAST(g AS STRING);")
    chunks = _chunks(11, chunks=2)
    coalesced = _final_rows(tmp_path, "on", 10_000_000, query, chunks)
    assert coalesced == _final_rows(tmp_path, "off", 0, query, chunks)


def test_pair_index_finds_inserts_and_compacts():
    index = PairIndex()
    first, second = np.array([5, 5, 7, -1]), np.array([0, 10, 0, 2 ** 40])
    slots, inserted = index.find_or_insert(first, second)
    assert sorted(slots.tolist()) == [0, 1, 2, 3] and inserted.all()
    again, inserted = index.find_or_insert(np.array([7, 8]), np.array([0, 0]))
    assert again[0] == slots[2] and inserted.tolist() == [False, True]
    assert index.lookup(np.array([5, 6]), np.array([10, 10])).tolist() == [slots[1], -1]
    live = np.ones(index.count, dtype=bool)
    live[slots[0]] = False
    index.keep(live)
    assert index.lookup(np.array([5, 5, 8]), np.array([0, 10, 0]))[0] == -1
    assert (index.lookup(np.array([5, 8]), np.array([10, 0])) >= 0).all()
    many = np.arange(50_000)
    slots, _ = index.find_or_insert(many, many * 3)
    assert len(set(slots.tolist())) == 50_000
    assert (index.lookup(many, many * 3) == slots).all()
