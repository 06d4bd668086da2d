"""A bad record never stops a query (ksqlDB logs it to the processing log and goes on): whatever
decoding or evaluating it raises, the fast paths hand the batch to the exact operators, which skip
just that record; the query stays RUNNING and every good record of the batch comes out."""
from __future__ import annotations

import struct

import pyarrow as pa
import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.log.api import HEADER_TYPE, PRODUCE_SCHEMA

PROPS = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"}

GOOD = [b'{"NAME":"a","V":1,"G":1}', b'{"NAME":"c","V":3,"G":2}', b'{"NAME":"g","V":4,"G":1}']
BAD = {
    "invalid UTF-8": b'{"NAME":"\xff\xfe\x80","V":2,"G":1}',
    "malformed JSON": b'{"NAME":"d", "V":',
    "wrong type": b'{"NAME":"e","V":"x","G":1}',
    "huge number": b'{"NAME":"f","V":99999999999999999999999,"G":1}',
    "huge fraction": b'{"NAME":"h","V":1.5e300,"G":1}',
}
QUERIES = {
    "FILTERED": "CREATE STREAM filtered AS SELECT k, name, v FROM s WHERE v > 0;",
    "PROJECTED": "CREATE STREAM projected AS SELECT k, UCASE(name) AS up, v * 2 AS twice FROM s;",
    "JOINED": "CREATE STREAM joined AS SELECT s.k, name, v, label FROM s JOIN t ON s.k = t.id;",
    "TOTALS": "CREATE TABLE totals AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM s GROUP BY k;",
    "BY_G": "CREATE TABLE by_g AS SELECT g, COUNT(*) AS n, SUM(v) AS total FROM s "
            "WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY g;",
}


def append(engine, topic, values, keys, first_timestamp=1):
    timestamps = range(first_timestamp, first_timestamp + len(values))
    engine.log.append(topic, pa.table([pa.array(keys, pa.binary()), pa.array(values, pa.binary()),
                                       pa.array(timestamps, pa.int64()),
                                       pa.nulls(len(values), HEADER_TYPE)], schema=PRODUCE_SCHEMA))


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_record_is_logged_and_skipped_and_the_good_ones_come_out(tmp_path, kind):
    engine = Engine(tmp_path, dict(PROPS))
    engine.execute("CREATE STREAM s (k STRING KEY, name STRING, v BIGINT, g BIGINT) "
                   "WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE t (id STRING PRIMARY KEY, label STRING) "
                   "WITH (kafka_topic='t', value_format='JSON', partitions=1);")
    for statement in QUERIES.values():
        engine.execute(statement)
    append(engine, "t", [b'{"LABEL":"L"}'], [b"k"], first_timestamp=0)
    values = GOOD[:1] + [BAD[kind]] + GOOD[1:]   # the bad record amid good ones, in one batch
    append(engine, "s", values, [b"k"] * len(values))
    engine.run_until_idle()

    assert {q: t.state for q, t in engine.scheduler.tasks.items()} == dict.fromkeys(engine.scheduler.tasks, "RUNNING")
    names = [r.value["NAME"] for r in engine.read_topic_records("FILTERED")]
    assert names == ["a", "c", "g"]
    assert [r.value["UP"] for r in engine.read_topic_records("PROJECTED")] == ["A", "C", "G"]
    assert [r.value["NAME"] for r in engine.read_topic_records("JOINED")] == ["a", "c", "g"]
    assert engine.read_topic_records("TOTALS")[-1].value == {"N": 3, "TOTAL": 8}
    assert {r.key: r.value for r in engine.read_topic_records("BY_G")} == {1: {"N": 2, "TOTAL": 5},
                                                                          2: {"N": 1, "TOTAL": 3}}
    logged = {(entry["query"], entry.get("offset")) for entry in engine.processing_log()}
    for query in engine.scheduler.tasks:
        assert (query, 1) in logged, f"{query} did not log the bad record: {engine.processing_log()}"
    engine.close()


def test_a_bad_avro_record_is_skipped_and_its_batch_decoded(tmp_path):
    # The vectorized Avro decoder reads the whole batch at once: a record it cannot read must cost
    # that record only, not the others of its batch.
    engine = Engine(tmp_path, dict(PROPS))
    engine.execute("CREATE STREAM s (k STRING KEY, name STRING, v BIGINT) "
                   "WITH (kafka_topic='s', value_format='AVRO', partitions=1);")
    engine.execute("CREATE STREAM copied AS SELECT k, name, v FROM s WHERE v > 0;")
    engine.execute("INSERT INTO s (k, name, v) VALUES ('k', 'a', 1);")
    good = engine.log.read("s", 0, 0).column("value")[0].as_py()
    header = good[:5]
    append(engine, "s", [header + b"\x06abc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", good,
                         header + b"\x7f", good], [b"k"] * 4)
    engine.run_until_idle()
    assert engine.scheduler.tasks[next(iter(engine.scheduler.tasks))].state == "RUNNING"
    assert [r.value["NAME"] for r in engine.read_topic_records("COPIED")] == ["a", "a", "a"]
    assert {e.get("offset") for e in engine.processing_log()} == {1, 3}
    engine.close()


def test_a_bad_protobuf_record_is_skipped(tmp_path):
    engine = Engine(tmp_path, dict(PROPS))
    engine.execute("CREATE STREAM s (k STRING KEY, name STRING, v BIGINT) "
                   "WITH (kafka_topic='s', value_format='PROTOBUF', partitions=1);")
    engine.execute("CREATE STREAM copied AS SELECT k, name, v FROM s;")
    engine.execute("INSERT INTO s (k, name, v) VALUES ('k', 'a', 1);")
    good = engine.log.read("s", 0, 0).column("value")[0].as_py()
    header = good[:6]
    append(engine, "s", [header + b"\x0a\x7f", good, header + struct.pack(">q", -1), good], [b"k"] * 4)
    engine.run_until_idle()
    assert engine.scheduler.tasks[next(iter(engine.scheduler.tasks))].state == "RUNNING"
    assert [r.value["NAME"] for r in engine.read_topic_records("COPIED")] == ["a", "a", "a"]
    assert {e.get("offset") for e in engine.processing_log()} == {1, 3}
    engine.close()

