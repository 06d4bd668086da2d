"""ksqlDB behaviours fixed from the aggregation, functions and REST QTT areas: zone offsets in
formatted timestamps, NULL arithmetic and LIMIT errors, DELIMITED quoting."""
from __future__ import annotations


import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException
from pyksqlite.grammar.errors import ParseError
from pyksqlite.grammar.parser import parse
from pyksqlite.shell.runners.rest_qtt import _query_mismatch


@pytest.fixture
def engine(tmp_path):
    engine = Engine(tmp_path / "data")
    yield engine
    engine.close()


def _output_values(engine: Engine, topic: str) -> list:
    engine.run_until_idle()
    return [r.value for r in engine.read_topic_records(topic)]


def _stream(engine: Engine, columns: str, fmt: str = "JSON") -> None:
    engine.execute(f"CREATE STREAM s (k STRING KEY, {columns}) "
                   f"WITH (kafka_topic='s', value_format='{fmt}', partitions=1);")


def test_timestamp_zone_offsets_print_as_java_time(engine):
    _stream(engine, "t BIGINT")
    engine.execute("CREATE STREAM o AS SELECT k, TIMESTAMPTOSTRING(t, 'HH:mm Z', 'UTC') AS z, "
                   "TIMESTAMPTOSTRING(t, 'HH:mm XXX', 'UTC') AS x, "
                   "TIMESTAMPTOSTRING(t, 'HH:mm Z', '+0530') AS ist FROM s;")
    engine.execute("INSERT INTO s (k, t) VALUES ('a', 0);")
    assert _output_values(engine, "O") == [{"Z": "00:00 +0000", "X": "00:00 Z", "IST": "05:30 +0530"}]


@pytest.mark.parametrize("expr, message", [
    ("1 + NULL", "Arithmetic on types INTEGER and null are not supported."),
    ("5.0 / NULL", "Arithmetic on types DECIMAL(2, 1) and null are not supported."),
    ("NULL * NULL", "Arithmetic on types null and null are not supported."),
])
def test_arithmetic_with_null_literal_is_rejected(engine, expr, message):
    _stream(engine, "v INT")
    with pytest.raises(KsqlException, match=message.replace("(", r"\(").replace(")", r"\)")):
        engine.execute(f"CREATE STREAM o AS SELECT {expr} AS x FROM s;")


def test_limit_must_be_an_integer_and_is_not_for_persistent_queries(engine):
    with pytest.raises(ParseError, match="Value must be integer for command: LIMIT"):
        parse("SELECT * FROM s LIMIT 2.5;")
    assert parse("SELECT * FROM s LIMIT -1;")[0].query.limit == -1
    _stream(engine, "v INT")
    with pytest.raises(KsqlException, match="CREATE STREAM AS SELECT statements don't support LIMIT"):
        engine.execute("CREATE STREAM o AS SELECT * FROM s LIMIT 5;")


def test_like_on_a_non_string_names_the_type(engine):
    _stream(engine, "v INT")
    with pytest.raises(KsqlException, match="Like condition must be VARCHAR. The column type is INTEGER"):
        engine.execute("CREATE STREAM o AS SELECT * FROM s WHERE v LIKE 12;")


def test_delimited_quotes_as_commons_csv(engine):
    _stream(engine, "a STRING, b STRING, c INT", fmt="DELIMITED")
    engine.execute("CREATE STREAM o AS SELECT k, a, b, c FROM s;")
    engine.produce_test_records([TestRecord("s", "k", "-x,-y,1", 0), TestRecord("s", "k", "a,!b,-1", 0)])
    assert _output_values(engine, "O") == ['"-x",-y,1', 'a,"!b",-1']


def test_rest_rows_compare_as_a_multiset_unless_order_is_asked():
    want = [{"header": {"schema": "A"}}, {"row": {"columns": [1]}}, {"row": {"columns": [2]}}]
    got = [{"header": {"schema": "A"}}, {"row": {"columns": [2]}}, {"row": {"columns": [1]}}]
    assert _query_mismatch(want, got, "q", verify_order=False) is None
    assert _query_mismatch(want, got, "q", verify_order=True) is not None
    assert _query_mismatch(want, got[:1] + [got[1], got[1]], "q", verify_order=False) is not None
