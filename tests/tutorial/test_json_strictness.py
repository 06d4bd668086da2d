"""ksqlDB's JSON deserializer (KsqlJsonDeserializer / JsonSerdeUtils) accepts only some
coercions; any other value fails the record, which is skipped and logged to the processing log.
Each row: column type, the member's JSON, the value ksqlDB reads or the error it fails with."""
from __future__ import annotations

from decimal import Decimal

import pytest

from pyksqlite.facade.engine import TestRecord
from pyksqlite.common.schema import Column
from pyksqlite.common.types import BIGINT, BOOLEAN, DATE, DOUBLE, INTEGER, STRING, TIME, TIMESTAMP, decimal
from tests.serde.conftest import decode, serde

ERROR = object()

COERCIONS = [
    (BOOLEAN, b"true", True), (BOOLEAN, b'"true"', "Can't convert type. sourceType: TextNode, requiredType: BOOLEAN"),
    (BOOLEAN, b"1", "Can't convert type. sourceType: IntNode, requiredType: BOOLEAN"),
    (INTEGER, b"12", 12), (INTEGER, b"1.9", 1), (INTEGER, b'"12"', 12), (INTEGER, b'"-12"', -12),
    (INTEGER, b'"+12"', 12),
    (INTEGER, b'" 12"', "Can't coerce string to type. targetType: INTEGER"),    # parseInt: no trim
    (INTEGER, b'"1e2"', "Can't coerce string to type. targetType: INTEGER"),
    (INTEGER, b'"1.5"', "Can't coerce string to type. targetType: INTEGER"),
    (INTEGER, b"true", "Can't convert type. sourceType: BooleanNode, requiredType: INTEGER"),
    (BIGINT, b'"10827272222"', 10827272222), (BIGINT, b'"1.0"', "Can't coerce string to type. targetType: BIGINT"),
    (BIGINT, b"3000000000", 3000000000),
    (DOUBLE, b'"1.5"', 1.5), (DOUBLE, b'" 1.5 "', 1.5), (DOUBLE, b'"1e3"', 1000.0), (DOUBLE, b'"2d"', 2.0),
    (DOUBLE, b'"abc"', "Can't coerce string to type. targetType: DOUBLE"),
    (DOUBLE, b'"inf"', "Can't coerce string to type. targetType: DOUBLE"),   # Java reads "Infinity"
    (DOUBLE, b"[1]", "Can't convert type. sourceType: ArrayNode, requiredType: DOUBLE"),
    (decimal(4, 2), b'"1.5"', Decimal("1.50")),
    (decimal(4, 2), b'" 1.5"', "Can't coerce string to type. targetType: DECIMAL"),
    (STRING, b"10", "10"), (STRING, b"true", "true"), (STRING, b'{"a":1}', '{"a":1}'), (STRING, b'["a",1]', "[a, 1]"),
    (DATE, b"10", 10), (DATE, b'"10"', 10), (DATE, b'"2020-01-01"', "Can't coerce string to type. targetType: DATE"),
    (TIME, b"1000", 1000),
    (TIME, b"86400000", "Time values must use number of milliseconds greater than 0 and less than 86400000."),
    (TIMESTAMP, b'"1700000000000"', 1700000000000),
    (TIMESTAMP, b'"2020-01-01T00:00:00"', "Can't coerce string to type. targetType: TIMESTAMP"),
]


@pytest.mark.parametrize("type_,member,expected", COERCIONS)
def test_json_coercions_as_ksqldb(type_, member, expected):
    result = decode(serde("JSON", Column("V", type_)), b'{"V": ' + member + b"}")
    value = result.columns.column(0)[0].as_py()
    if isinstance(expected, str) and type_.base != "STRING":
        assert (value, result.errors) == (None, {0: expected})
        return
    if type_.base in ("DATE", "TIME", "TIMESTAMP"):
        import pyarrow as pa
        raw = result.columns.column(0).cast(pa.int64() if type_.base == "TIMESTAMP" else pa.int32())
        value = raw[0].as_py()
    assert (value, result.errors) == (expected, {})


def test_fast_path_leaves_strings_in_numeric_columns_to_the_exact_rules():
    """A batch the fast path decodes: clean numbers stay fast; strings go to ksqlDB's rules."""
    columns = [Column("N", INTEGER), Column("D", DOUBLE), Column("S", STRING)]
    records = [b'{"N": 1, "D": 1.5, "S": "a"}', b'{"N": "2", "D": "2.5", "S": "b"}',
               b'{"N": "1e2", "D": 1, "S": "c"}', b'{"N": 3, "D": "Infinity", "S": "d"}']
    result = decode(serde("JSON", *columns), *records)
    assert result.columns.to_pylist() == [{"N": 1, "D": 1.5, "S": "a"}, {"N": 2, "D": 2.5, "S": "b"},
                                          {"N": None, "D": None, "S": None}, {"N": 3, "D": float("inf"), "S": "d"}]
    assert result.errors == {2: "Can't coerce string to type. targetType: INTEGER"}


def test_a_boolean_string_fails_the_record_and_is_logged(engine):
    engine.execute("CREATE STREAM s (k STRING KEY, flag BOOLEAN) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE STREAM o AS SELECT k, flag FROM s;")
    engine.produce_test_records([TestRecord("s", "a", {"flag": "true"}), TestRecord("s", "b", {"flag": True})])
    engine.run_until_idle()
    assert [(r.key, r.value) for r in engine.read_topic_records("O")] == [("b", {"FLAG": True})]
    messages = [e["message"] for e in engine.processing_log()]
    assert any("Can't convert type. sourceType: TextNode, requiredType: BOOLEAN" in m for m in messages)
