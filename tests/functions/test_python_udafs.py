"""Python UDAFs as ksqlDB's: column arguments (a variadic one in any position), constant init
arguments after them (passed to the constructor; they must be literals), generic result types,
an accumulator type that decides whether a DELIMITED source can feed it, undo for table sources,
and a row whose aggregate raises skipped and logged."""
from __future__ import annotations

from decimal import Decimal

import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException
from pyksqlite.expressions import python_udf
from pyksqlite.udf import udaf
from pyksqlite.grammar.ast import BIGINT, DOUBLE, INTEGER, STRING, decimal

PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none",
              "ksql.streams.cache.max.bytes.buffering": 0}


@pytest.fixture
def engine(tmp_path):
    e = Engine(tmp_path / "data", PROPERTIES)
    yield e
    e.close()


@pytest.fixture
def cleanup():
    names = []
    yield names
    for name in names:
        python_udf.unregister_function(name)


class LengthSum:
    """Starts from its init arguments (numbers, and strings by length); adds each row's number
    and its strings' lengths."""

    def __init__(self, *init):
        self.start = sum(len(v) if isinstance(v, str) else v for v in init)

    def initialize(self):
        return self.start

    def aggregate(self, acc, number, *texts):
        return acc + (number or 0) + sum(len(t or "") for t in texts)

    def undo(self, acc, number, *texts):
        return acc - (number or 0) - sum(len(t or "") for t in texts)

    def merge(self, left, right):
        return left + right - self.start

    def map(self, acc):
        return acc


def stream(engine, columns="n BIGINT, a STRING, b STRING", fmt="JSON"):
    engine.create_topic("in")
    engine.execute(f"CREATE STREAM s (k STRING KEY, {columns}) WITH (kafka_topic='in', value_format='{fmt}');")


def feed(engine, *values, topic="in"):
    for value in values:
        engine.produce_test_records([TestRecord(topic, "x", value)])
        engine.run_until_idle()


def results(engine, topic="T"):
    return [r.value for r in engine.read_topic_records(topic)]


def test_init_arguments_follow_the_columns_and_may_be_variadic(engine, cleanup):
    udaf(name="t_multi", params=["BIGINT", "STRING"], init_params=["INT", "STRING..."],
         returns="BIGINT")(type("TMulti", (LengthSum,), {}))
    cleanup.append("T_MULTI")
    stream(engine)
    engine.execute("CREATE TABLE t AS SELECT k, t_multi(n, a, 5, '10', '20', '3') AS r, "
                   "t_multi(n, 'hello', 1) AS q FROM s GROUP BY k;")
    feed(engine, {"n": 6, "a": "hi"}, {"n": None, "a": "abc"})
    assert results(engine) == [{"R": 18, "Q": 12}, {"R": 21, "Q": 17}]
    with pytest.raises(KsqlException, match=r"Function 'T_MULTI' does not accept parameters \(BIGINT, STRING\)"):
        engine.execute("CREATE TABLE u AS SELECT k, t_multi(n, a) AS r FROM s GROUP BY k;")
    with pytest.raises(KsqlException, match="Parameter 3 passed to function T_MULTI must be a literal constant"):
        engine.execute("CREATE TABLE u AS SELECT k, t_multi(n, a, CAST(n AS INT)) AS r FROM s GROUP BY k;")


def test_variadic_column_parameter_before_init_parameters(engine, cleanup):
    udaf(name="t_mid", params=["BIGINT", "STRING..."], init_params=["INT", "INT"],
         returns="BIGINT")(type("TMid", (LengthSum,), {}))
    cleanup.append("T_MID")
    stream(engine)
    engine.execute("CREATE TABLE t AS SELECT k, t_mid(n, 7, 3) AS none_, t_mid(n, a, b, 'xy', 7, 3) AS all_ "
                   "FROM s GROUP BY k;")
    feed(engine, {"n": 1, "a": "abc", "b": None})
    assert results(engine) == [{"NONE_": 11, "ALL_": 16}]
    described = engine.execute("DESCRIBE FUNCTION t_mid;")[0].entity["functions"][0]
    assert described["argumentTypes"] == ["BIGINT", "STRING[]", "INTEGER", "INTEGER"]


class Collect:
    def initialize(self):
        return []

    def aggregate(self, acc, first, *others):
        return acc if first is None or None in others else acc + [first]

    def undo(self, acc, first, *others):
        if first is None or None in others or first not in acc:
            return acc
        rest = list(acc)
        rest.remove(first)
        return rest

    def merge(self, left, right):
        return left + right

    def map(self, acc):
        return list(acc)


def test_generic_result_follows_the_argument_type(engine, cleanup):
    udaf(name="t_collect", params=["T", "ANY..."], returns="ARRAY<T>", aggregate="ARRAY<T>")(Collect)
    cleanup.append("T_COLLECT")
    stream(engine, "d DECIMAL(5, 1), m MAP<STRING, DOUBLE>, x INT")
    engine.execute("CREATE TABLE t AS SELECT k, t_collect(d, x) AS ds, t_collect(m) AS ms FROM s GROUP BY k;")
    feed(engine, {"d": 6.1, "m": {"one": 1.5}, "x": 1}, {"d": 2.3, "m": None, "x": None})
    assert results(engine)[-1] == {"DS": [Decimal("6.1")], "MS": [{"one": 1.5}]}
    fields = engine.execute("DESCRIBE t;")[0].entity["sourceDescription"]["fields"]
    assert fields[1]["schema"]["memberSchema"]["type"] == "DECIMAL"
    assert fields[2]["schema"]["memberSchema"]["type"] == "MAP"


def test_undo_retracts_a_table_row_that_changes(engine, cleanup):
    udaf(name="t_len", params=["BIGINT", "STRING..."], returns="BIGINT")(type("TLen", (LengthSum,), {}))
    cleanup.append("T_LEN")
    engine.create_topic("users")
    engine.execute("CREATE TABLE users (id STRING PRIMARY KEY, grp STRING, n BIGINT, name STRING) "
                   "WITH (kafka_topic='users', value_format='JSON');")
    engine.execute("CREATE TABLE t AS SELECT grp, t_len(n, name) AS total FROM users GROUP BY grp;")
    for key, value in (("a", {"grp": "g", "n": 1, "name": "ann"}), ("b", {"grp": "g", "n": 10, "name": "bo"}),
                       ("a", {"grp": "g", "n": 2, "name": "al"})):
        engine.produce_test_records([TestRecord("users", key, value)])
        engine.run_until_idle()
    assert [v["TOTAL"] for v in results(engine) if v is not None][-1] == 10 + 2 + 2 + 2


def test_an_aggregate_without_undo_cannot_aggregate_a_table(engine, cleanup):
    class Once:
        def initialize(self):
            return []

        def aggregate(self, acc, value):
            return acc + [value]

        def merge(self, left, right):
            return left + right

        def map(self, acc):
            return acc
    udaf(name="t_once", params=["BIGINT"], returns="ARRAY<BIGINT>")(Once)
    cleanup.append("T_ONCE")
    engine.create_topic("users")
    engine.execute("CREATE TABLE users (id STRING PRIMARY KEY, n BIGINT) WITH (kafka_topic='users', value_format='JSON');")
    with pytest.raises(KsqlException, match=r"\(T_ONCE\) cannot be applied to a table source"):
        engine.execute("CREATE TABLE t AS SELECT id, t_once(n) AS r FROM users GROUP BY id;")


def test_accumulator_type_decides_delimited_sources(engine, cleanup):
    udaf(name="t_sum", params=["INT"], returns="BIGINT")(type("TSum", (LengthSum,), {}))
    udaf(name="t_list", params=["INT"], returns="BIGINT", aggregate="ARRAY<INT>")(type("TList", (LengthSum,), {}))
    cleanup.extend(["T_SUM", "T_LIST"])
    stream(engine, "v INT", fmt="DELIMITED")
    engine.execute("CREATE TABLE t AS SELECT k, t_sum(v) AS s FROM s GROUP BY k;")
    feed(engine, "5", "2147483647")
    assert results(engine) == ["5", "2147483652"]   # an INT argument, a BIGINT sum
    with pytest.raises(KsqlException, match="intermediate type that the value format can not handle"):
        engine.execute("CREATE TABLE u AS SELECT k, t_list(v) AS s FROM s GROUP BY k;")


def test_a_row_whose_aggregate_raises_is_skipped_and_logged(engine, cleanup):
    class Fragile(LengthSum):
        def aggregate(self, acc, number):
            if number < 0:
                raise ValueError("negative")
            return acc + number
    udaf(name="t_fragile", params=["BIGINT"], returns="BIGINT")(Fragile)
    cleanup.append("T_FRAGILE")
    stream(engine)
    engine.execute("CREATE TABLE t AS SELECT k, t_fragile(n) AS r FROM s GROUP BY k;")
    feed(engine, {"n": 2}, {"n": -1}, {"n": 3})
    assert [v["R"] for v in results(engine)] == [2, 2, 5]
    errors = [e for e in engine.processing_log() if e.get("function") == "T_FRAGILE"]
    assert len(errors) == 1 and "negative" in errors[0]["message"] and errors[0]["query"] == "CTAS_T_0"


def test_accumulator_round_trips_through_its_checkpoint_rows(cleanup):
    udaf(name="t_saved", params=["BIGINT", "STRING..."], init_params=["INT"],
         returns="BIGINT")(type("TSaved", (LengthSum,), {}))
    cleanup.append("T_SAVED")
    bound = python_udf.bind_python_aggregate("t_saved", [BIGINT, STRING], [4])
    accumulator = bound.accumulator()
    accumulator.add((3, "ab"))
    restored = bound.accumulator()
    restored.load_rows(accumulator.state_rows())
    restored.add((1, None))
    assert (accumulator.result(), restored.result()) == (9, 10)


def test_literal_init_values_take_their_parameter_type(cleanup):
    seen = []

    class Scaled(LengthSum):
        def __init__(self, factor):
            seen.append(factor)
            super().__init__()
    udaf(name="t_scaled", params=["INT"], init_params=["DOUBLE"], returns="DOUBLE")(Scaled)
    cleanup.append("T_SCALED")
    bound = python_udf.bind_python_aggregate("t_scaled", [INTEGER], [2])
    bound.accumulator()
    assert seen == [2.0] and isinstance(seen[0], float) and bound.result_type == DOUBLE
    assert python_udf.literal_type(5) == INTEGER and python_udf.literal_type(2 ** 40) == BIGINT
    assert python_udf.literal_type("x") == STRING and python_udf.literal_type(None) is None
    assert python_udf.literal_type(Decimal("1.50")) == decimal(3, 2)


def test_session_windows_merge_accumulators(engine, cleanup):
    udaf(name="t_merge", params=["BIGINT", "STRING..."], returns="BIGINT")(type("TMerge", (LengthSum,), {}))
    cleanup.append("T_MERGE")
    stream(engine)
    engine.execute("CREATE TABLE t AS SELECT k, t_merge(n) AS total FROM s "
                   "WINDOW SESSION (10 SECONDS) GROUP BY k;")
    for timestamp, n in ((0, 1), (16_000, 2), (8_000, 4)):   # the last one joins both sessions
        engine.produce_test_records([TestRecord("in", "x", {"n": n}, timestamp=timestamp)])
        engine.run_until_idle()
    final = [r for r in engine.read_topic_records("T") if r.value is not None][-1]
    assert final.value == {"TOTAL": 7} and final.window["start"] == 0
