"""JSON serde: ksqlDB's coercions, case-insensitive names, wrapping, error rows, round trips."""
from decimal import Decimal

import pyarrow as pa
import pytest

from pyksqlite.common.schema import Column
from pyksqlite.common.types import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME, TIMESTAMP,
                          array, decimal, map_of, struct)
from tests.serde.conftest import decode, key_column, serde


def one(type_, record: bytes):
    result = decode(serde("JSON", Column("V", type_)), record)
    return result.columns.column(0)[0].as_py(), result.errors


@pytest.mark.parametrize("type_, record, expected", [
    (INTEGER, b'{"V": 12}', 12),
    (INTEGER, b'{"V": "12"}', 12),
    (INTEGER, b'{"V": 1.9}', 1),
    (BIGINT, b'{"V": 10827272222}', 10827272222),
    (DOUBLE, b'{"V": "1.5"}', 1.5),
    (DOUBLE, b'{"V": 2}', 2.0),
    (BOOLEAN, b'{"V": "TRUE"}', True),
    (BOOLEAN, b'{"V": "yes"}', False),
    (STRING, b'{"V": 10}', "10"),
    (STRING, b'{"V": true}', "true"),
    (STRING, b'{"V": {"a": 1}}', '{"a":1}'),
    (STRING, b'{"V": ["a", 1]}', "[a, 1]"),
    (decimal(6, 4), b'{"V": 12.365}', Decimal("12.3650")),
    (decimal(6, 4), b'{"V": "1.5"}', Decimal("1.5000")),
    (BYTES, b'{"V": "dmFyaWF0aW9ucw=="}', b"variations"),
    (array(INTEGER), b'{"V": [1, "2", null]}', [1, 2, None]),
    (map_of(STRING, INTEGER), b'{"V": {"a": 1, "b": null}}', [("a", 1), ("b", None)]),
    (struct([("F", DOUBLE), ("G", STRING)]), b'{"V": {"f": 4.5}}', {"F": 4.5, "G": None}),
])
def test_coercions(type_, record, expected):
    assert one(type_, record) == (expected, {})


def test_temporal_types_from_numbers():
    result = decode(serde("JSON", Column("D", DATE), Column("T", TIME), Column("TS", TIMESTAMP)),
                    b'{"D": 10, "T": 1000, "TS": 1700000000000}')
    d, t, ts = (result.columns.column(i).cast(pa.int64() if i == 2 else pa.int32())[0].as_py() for i in range(3))
    assert (d, t, ts) == (10, 1000, 1700000000000)
    assert result.columns.schema.types == [pa.date32(), pa.time32("ms"), pa.timestamp("ms")]


def test_field_names_match_exactly_then_by_upper_case():
    columns = [Column("FOO", INTEGER), Column("bar", INTEGER)]
    result = decode(serde("JSON", *columns), b'{"foo": 1, "bar": 2}', b'{"Foo": 3, "BAR": 4}')
    assert result.columns.to_pylist() == [{"FOO": 1, "bar": 2}, {"FOO": 3, "bar": None}]


@pytest.mark.parametrize("record, message", [
    (b'{"V": "abc"}', "Can't coerce string to type. targetType: INTEGER"),
    (b'{"V": true}', "Can't convert type. sourceType: BooleanNode, requiredType: INTEGER"),
    (b'{"V": [1]}', "Can't convert type. sourceType: ArrayNode, requiredType: INTEGER"),
    (b'{bad json', "Invalid JSON document"),
    (b'[1, 2]', "Can't convert type. sourceType: ArrayNode, requiredType: STRUCT"),
])
def test_bad_records_become_error_rows(record, message):
    result = decode(serde("JSON", Column("V", INTEGER), Column("W", INTEGER)), b'{"V": 1, "W": 2}', record)
    assert result.columns.to_pylist() == [{"V": 1, "W": 2}, {"V": None, "W": None}]
    assert result.errors == {1: message}


def test_nested_error_is_found():
    _, errors = one(array(INTEGER), b'{"V": [1, "x"]}')
    assert errors == {0: "Can't coerce string to type. targetType: INTEGER"}


def test_null_records_and_json_null_give_null_rows_without_errors():
    result = decode(serde("JSON", Column("V", INTEGER)), None, b"null", b'{"V": null}')
    assert result.columns.to_pylist() == [{"V": None}] * 3
    assert result.errors == {}


def test_unwrapped_value_and_single_key():
    value = serde("JSON", Column("V", STRING), wrap_single_value=False)
    assert decode(value, b'"hello"').columns.to_pylist() == [{"V": "hello"}]
    key = serde("JSON", key_column("K", INTEGER), key=True)
    assert decode(key, b"33", None).columns.to_pylist() == [{"K": 33}, {"K": None}]
    assert key.serialize(pa.table({"K": pa.array([33, None], pa.int32())})).to_pylist() == [b"33", None]


def test_multi_column_key_is_an_object():
    key = serde("JSON", key_column("K", INTEGER), key_column("K2", INTEGER), key=True)
    result = decode(key, b'{"K": 1, "K2": 2}')
    assert result.columns.to_pylist() == [{"K": 1, "K2": 2}]
    assert key.serialize(result.columns).to_pylist() == [b'{"K":1,"K2":2}']


def test_round_trip_every_type():
    columns = [Column("I", INTEGER), Column("B", BIGINT), Column("D", DOUBLE), Column("S", STRING),
               Column("BO", BOOLEAN), Column("DE", decimal(6, 2)), Column("BY", BYTES), Column("DA", DATE),
               Column("TI", TIME), Column("TS", TIMESTAMP), Column("A", array(STRING)),
               Column("M", map_of(STRING, BYTES)), Column("ST", struct([("X", INTEGER), ("Y", TIMESTAMP)]))]
    record = (b'{"I":1,"B":2,"D":1.5,"S":"s","BO":true,"DE":12.25,"BY":"ew==","DA":10,"TI":1000,"TS":5,'
              b'"A":["a",null],"M":{"k":"ew=="},"ST":{"X":1,"Y":7}}')
    codec = serde("JSON", *columns)
    decoded = decode(codec, record)
    assert decoded.errors == {}
    assert codec.serialize(decoded.columns).to_pylist() == [record]


def test_serialize_uses_column_names_and_writes_nulls():
    codec = serde("JSON", Column("@TIMESTAMP", BIGINT), Column("from", STRING))
    table = pa.table({"@TIMESTAMP": [4, None], "from": ["x", None]})
    assert codec.serialize(table).to_pylist() == [b'{"@TIMESTAMP":4,"from":"x"}', b'{"@TIMESTAMP":null,"from":null}']


def test_unwrapped_null_serializes_to_null_bytes():
    codec = serde("JSON", Column("V", array(BIGINT)), wrap_single_value=False)
    table = pa.table({"V": pa.array([[12, None], None], pa.list_(pa.int64()))})
    assert codec.serialize(table).to_pylist() == [b"[12,null]", None]
