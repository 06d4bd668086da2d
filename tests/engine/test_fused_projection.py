"""The fused JSON projection (engine.operators.fused) on the real engine and log: same rows as the
exact operators, whatever shape its input batches come in, batch after batch."""
from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.log.api import CONSUME_SCHEMA
from pyksqlite.operators.fused import FusedJsonProjection
from pyksqlite.operators.planned import PlannedStatement


@pytest.fixture
def engine(tmp_path):
    e = Engine(tmp_path, {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"})
    yield e
    e.close()


def sink_values(engine, topic):
    return [r.value for r in engine.read_topic_records(topic)]


def fused_relation(engine) -> FusedJsonProjection:
    (task,) = engine.scheduler.tasks.values()
    assert isinstance(task.plan.relation, FusedJsonProjection)
    return task.plan.relation


def consumed(values: list, first_offset: int = 0) -> pa.RecordBatch:
    n = len(values)
    return pa.RecordBatch.from_arrays([
        pa.array(["input"] * n), pa.array([0] * n, pa.int32()),
        pa.array(range(first_offset, first_offset + n), pa.int64()), pa.nulls(n, pa.binary()),
        pa.array([None if v is None else v.encode() for v in values], pa.binary()),
        pa.array([1000] * n, pa.int64()), pa.nulls(n, CONSUME_SCHEMA.field("headers").type),
    ], schema=CONSUME_SCHEMA)


def create_filter(engine):
    engine.create_topic("input")
    engine.execute("CREATE STREAM s (id BIGINT, amount BIGINT) WITH (kafka_topic='input', value_format='JSON');")
    engine.execute("CREATE STREAM big AS SELECT id, amount * 2 AS twice FROM s WHERE amount > 10;")


def test_batches_in_a_row_each_give_their_own_rows(engine):
    create_filter(engine)
    for batch in range(3):
        engine.produce_test_records([TestRecord("input", None, {"id": batch * 10 + i, "amount": 5 + 10 * i})
                                     for i in range(3)])
        engine.run_until_idle()
    assert sink_values(engine, "BIG") == [{"ID": b * 10 + i, "TWICE": 2 * (5 + 10 * i)}
                                          for b in range(3) for i in (1, 2)]


def test_null_values_and_doubtful_rows_give_the_exact_results(engine):
    create_filter(engine)
    engine.produce_test_records([
        TestRecord("input", None, {"id": 1, "amount": 50}),
        TestRecord("input", None, None),                       # a stream drops null values
        TestRecord("input", None, {"ID": 2, "AMOUNT": 60}),     # names matched case-insensitively
        TestRecord("input", None, {"id": 3, "amount": 70.5}),  # fractional: the exact path decides
        TestRecord("input", None, {"id": 4, "amount": 80}),
    ])
    engine.run_until_idle()
    assert sink_values(engine, "BIG") == [{"ID": 1, "TWICE": 100}, {"ID": 2, "TWICE": 120},
                                          {"ID": 3, "TWICE": 140}, {"ID": 4, "TWICE": 160}]


def test_chunked_input_gives_the_same_rows_as_one_batch(engine):
    create_filter(engine)
    engine.run_until_idle()
    relation = fused_relation(engine)
    values = [f'{{"id": {i}, "amount": {i * 7 % 30}}}' for i in range(40)]
    whole = relation.process(consumed(values))
    table = pa.Table.from_batches([consumed(values[:15]), consumed(values[15:], 15)])
    assert relation._process_fused(table) is not None  # the fast path takes chunked columns as they are
    chunked = relation.process(table)
    assert chunked.to_pylist() == whole.to_pylist()
    assert whole.num_rows == sum(1 for i in range(40) if i * 7 % 30 > 10)


def test_a_statement_prepared_on_one_thread_runs_on_another():
    statement = PlannedStatement("numbers")
    sql = "SELECT sum(n) AS total FROM numbers"
    assert statement.run(sql, pa.table({"n": [1, 2, 3]})).column("total").to_pylist() == [6]
    results = []
    thread = threading.Thread(target=lambda: results.append(statement.run(sql, pa.table({"n": [10, 20]}))))
    thread.start()
    thread.join()
    assert results[0].column("total").to_pylist() == [30]
    assert statement.run(sql, pa.table({"n": [4]})).column("total").to_pylist() == [4]
    other = "SELECT max(n) AS total FROM numbers"
    assert statement.run(other, pa.table({"n": [4, 9]})).column("total").to_pylist() == [9]
