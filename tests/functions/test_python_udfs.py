"""Python UDFs: decorators, vectorized and per-row scalars, table functions, extension dirs,
DESCRIBE FUNCTION / SHOW FUNCTIONS, errors nulling one row, and the aggregate protocol."""
from __future__ import annotations

import textwrap

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException
from pyksqlite.expressions import python_udf
from pyksqlite.udf import udaf, udf, udtf
from pyksqlite.grammar.ast import BIGINT, INTEGER, STRING


@pytest.fixture
def engine(tmp_path):
    e = Engine(tmp_path / "data", {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"})
    e.create_topic("input")
    e.execute("CREATE STREAM s (id INT KEY, txt STRING, a INT, b INT) "
              "WITH (kafka_topic='input', value_format='JSON');")
    yield e
    e.close()


@pytest.fixture
def cleanup():
    names = []
    yield names
    for name in names:
        python_udf.unregister_function(name)


def values(engine, topic):
    return [r.value for r in engine.read_topic_records(topic)]


def test_vectorized_udf_receives_arrow_arrays(engine, cleanup):
    calls = []

    @udf(params=["STRING"], returns="STRING", description="Upper-cases with pyarrow.")
    def t_shout(texts):
        calls.append(type(texts))
        return pc.utf8_upper(texts)
    cleanup.append("T_SHOUT")

    engine.execute("CREATE STREAM o AS SELECT id, t_shout(txt) AS loud FROM s;")
    engine.produce_test_records([TestRecord("input", i, {"txt": f"x{i}"}) for i in range(5)]
                                + [TestRecord("input", 9, {"txt": None})])
    engine.run_until_idle()
    assert values(engine, "O") == [{"LOUD": f"X{i}"} for i in range(5)] + [{"LOUD": None}]
    assert calls and all(issubclass(c, pa.Array) for c in calls)
    assert len(calls) < 6  # whole vectors, not one call per row


def test_per_row_udf_overloads_and_errors_null_one_row(engine, cleanup):
    @udf(params=["INT", "INT"], returns="INT", per_row=True)
    def t_div(a, b):
        return a // b

    @udf(name="t_div", params=["STRING", "INT"], returns="STRING", per_row=True)
    def t_div_text(s, n):
        return s[:len(s) // n]
    cleanup.append("T_DIV")

    engine.execute("CREATE STREAM o AS SELECT id, t_div(a, b) AS q, t_div(txt, b) AS t FROM s;")
    engine.produce_test_records([TestRecord("input", 1, {"txt": "abcd", "a": 7, "b": 2}),
                                 TestRecord("input", 2, {"txt": "abcd", "a": 7, "b": 0})])
    engine.run_until_idle()
    assert values(engine, "O") == [{"Q": 3, "T": "ab"}, {"Q": None, "T": None}]
    with pytest.raises(KsqlException, match="does not accept parameters"):
        engine.execute("CREATE STREAM bad AS SELECT id, t_div(txt, txt) FROM s;")


def test_vectorized_udf_failure_is_isolated_to_the_failing_row(engine, cleanup):
    @udf(params=["INT"], returns="INT")
    def t_fragile(xs):
        if any(x == 0 for x in xs.to_pylist()):
            raise ValueError("zero")
        return pc.multiply(xs, 10)
    cleanup.append("T_FRAGILE")

    engine.execute("CREATE STREAM o AS SELECT id, t_fragile(a) AS v FROM s;")
    engine.produce_test_records([TestRecord("input", i, {"a": i}) for i in (1, 0, 2)])
    engine.run_until_idle()
    assert values(engine, "O") == [{"V": 10}, {"V": None}, {"V": 20}]


def test_python_table_function(engine, cleanup):
    @udtf(params=["STRING"], returns="STRING", per_row=True)
    def t_words(text):
        return text.split()
    cleanup.append("T_WORDS")

    engine.execute("CREATE STREAM o AS SELECT id, t_words(txt) AS w FROM s;")
    engine.produce_test_records([TestRecord("input", 1, {"txt": "hello big world"}),
                                 TestRecord("input", 2, {"txt": None})])
    engine.run_until_idle()
    assert values(engine, "O") == [{"W": "hello"}, {"W": "big"}, {"W": "world"}]


def test_extension_dir_and_describe_function(tmp_path, cleanup):
    ext = tmp_path / "ext"
    ext.mkdir()
    (ext / "mine.py").write_text(textwrap.dedent('''
        import pyarrow.compute as pc
        from pyksqlite.udf import udf

        @udf(params=["BIGINT", "BIGINT"], returns="BIGINT", description="Adds two numbers.")
        def t_plus(left, right):
            return pc.add(left, right)
    '''))
    cleanup.append("T_PLUS")
    engine = Engine(tmp_path / "data", {"ksql.extension.dir": str(ext), "ksqlite.log.flush": "none"})
    try:
        described = engine.execute("DESCRIBE FUNCTION t_plus;")[0].entity
        assert described["type"] == "SCALAR" and described["description"] == "Adds two numbers."
        variant = described["functions"][0]
        assert [a["name"] for a in variant["arguments"]] == ["left", "right"]
        assert variant["argumentTypes"] == ["BIGINT", "BIGINT"] and variant["returnType"] == "BIGINT"
        assert described["path"].endswith("mine.py")
        listed = engine.execute("SHOW FUNCTIONS;")[0].entity["functions"]
        assert {"name": "T_PLUS", "type": "SCALAR", "category": "PYTHON"} in listed
    finally:
        engine.close()


def test_a_builtin_cannot_be_replaced(cleanup):
    with pytest.raises(KsqlException, match="built-in"):
        udf(name="ucase", params=["STRING"], returns="STRING")(lambda s: s)


class SumOfSquares:
    """A Python UDAF's protocol: the sum of the squares of its values."""

    def initialize(self):
        return 0

    def aggregate(self, acc, value):
        return acc + (value or 0) ** 2

    def merge(self, a, b):
        return a + b

    def map(self, acc):
        return acc


def test_aggregate_protocol_for_the_aggregation_engine(cleanup):
    @udaf(params=["INT"], returns="BIGINT", description="Sum of squares.")
    class T_SUMSQ(SumOfSquares):
        def undo(self, acc, value):
            return acc - (value or 0) ** 2
    cleanup.append("T_SUMSQ")

    bound = python_udf.bind_python_aggregate("t_sumsq", [INTEGER])
    assert bound.result_type == BIGINT and bound.undo and not bound.vectorized
    left, right = bound.accumulator(), bound.accumulator()
    for v in (1, 2, 3):
        left.add((v,), 0)
    right.add((4,), 0)
    left.merge(right)
    left.remove((1,), 0)
    assert left.result() == 4 + 9 + 16
    assert python_udf.bind_python_aggregate("count", [STRING]) is None


def test_python_aggregate_in_a_group_by_query(cleanup, tmp_path):
    @udaf(params=["INT"], returns="BIGINT", description="Sum of squares.")
    class T_SUMSQ2(SumOfSquares):
        pass
    cleanup.append("T_SUMSQ2")
    engine = Engine(tmp_path, {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none",
                               "ksql.streams.cache.max.bytes.buffering": 0})
    try:
        engine.execute("CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', "
                       "partitions=1);")
        engine.execute("CREATE TABLE t AS SELECT k, T_SUMSQ2(v) AS sq FROM s GROUP BY k;")
        for v in (1, 2, 3):
            engine.execute(f"INSERT INTO s (k, v) VALUES ('a', {v});")
        engine.run_until_idle()
        assert [r.value for r in engine.read_topic_records("T")][-1] == {"SQ": 14}
    finally:
        engine.close()
