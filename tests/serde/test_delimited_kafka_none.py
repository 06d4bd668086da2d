"""DELIMITED, KAFKA and NONE serdes: parsing, byte layouts, error rows, round trips."""
import struct
from decimal import Decimal

import pyarrow as pa
import pytest

from pyksqlite.common.schema import Column
from pyksqlite.common.types import BIGINT, BOOLEAN, BYTES, DOUBLE, INTEGER, STRING, decimal
from tests.serde.conftest import decode, key_column, serde


def test_delimited_parses_quotes_empty_fields_and_types():
    codec = serde("DELIMITED", Column("I", INTEGER), Column("S", STRING), Column("D", decimal(6, 4)),
                  Column("B", BOOLEAN))
    result = decode(codec, b'1,"x,y",12.0,TRUE', b"2,,,false", b'3,"a""b",1.5,no', None)
    assert result.columns.to_pylist() == [
        {"I": 1, "S": "x,y", "D": Decimal("12.0000"), "B": True},
        {"I": 2, "S": None, "D": None, "B": False},
        {"I": 3, "S": 'a"b', "D": Decimal("1.5000"), "B": False},
        {"I": None, "S": None, "D": None, "B": None}]
    assert result.errors == {}
    assert codec.serialize(result.columns).to_pylist()[:3] == [
        b'1,"x,y",12.0000,true', b"2,,,false", b'3,"a""b",1.5000,false']


def test_delimited_error_rows():
    codec = serde("DELIMITED", Column("I", INTEGER), Column("S", STRING))
    result = decode(codec, b"1,a", b"x,b", b"1,2,3", b"4,d")
    assert result.columns.to_pylist() == [{"I": 1, "S": "a"}, {"I": None, "S": None},
                                          {"I": None, "S": None}, {"I": 4, "S": "d"}]
    assert set(result.errors) == {1, 2}
    assert "expected: 2, got: 3" in result.errors[2]


def test_delimited_custom_delimiter_and_single_key():
    key = serde("DELIMITED", key_column("K1", STRING), key_column("K2", STRING), key=True, delimiter=";")
    assert decode(key, b"foo,bar;baz").columns.to_pylist() == [{"K1": "foo,bar", "K2": "baz"}]
    single = serde("DELIMITED", key_column("K", BOOLEAN), key=True)
    assert decode(single, b'"true"', None).columns.to_pylist() == [{"K": True}, {"K": None}]
    tabbed = serde("DELIMITED", Column("A", BIGINT), Column("B", STRING), delimiter="\t")
    assert tabbed.serialize(pa.table({"A": [0], "B": ["zero"]})).to_pylist() == [b"0\tzero"]


@pytest.mark.parametrize("type_, value, raw", [
    (INTEGER, 2, struct.pack(">i", 2)),
    (BIGINT, 10000000000, struct.pack(">q", 10000000000)),
    (DOUBLE, 10.1, struct.pack(">d", 10.1)),
    (STRING, "bar", b"bar"),
    (BYTES, b"\x00\x01", b"\x00\x01"),
])
def test_kafka_byte_layouts(type_, value, raw):
    codec = serde("KAFKA", Column("V", type_))
    assert codec.serialize(pa.table({"V": [value, None]})).to_pylist() == [raw, None]
    assert decode(codec, raw, None).columns.to_pylist() == [{"V": value}, {"V": None}]


def test_kafka_wrong_size_is_an_error_row():
    result = decode(serde("KAFKA", Column("V", INTEGER)), struct.pack(">i", -7), b"123")
    assert result.columns.to_pylist() == [{"V": -7}, {"V": None}]
    assert result.errors == {1: "Size of data received by IntegerDeserializer is not 4"}


def test_kafka_bad_utf8_is_an_error_row():
    result = decode(serde("KAFKA", Column("V", STRING)), b"ok", b"\xff\xfe")
    assert result.columns.column(0).to_pylist() == ["ok", None]
    assert list(result.errors) == [1]


def test_none_ignores_bytes():
    codec = serde("NONE", key=True)
    result = decode(codec, b"ignored", None)
    assert (result.columns.num_rows, result.columns.num_columns, result.errors) == (2, 0, {})
    assert codec.serialize(result.columns).to_pylist() == [None, None]
