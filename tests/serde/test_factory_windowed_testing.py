"""Format validation, windowed keys and the test-harness value conversions."""
import struct
from decimal import Decimal

import pyarrow as pa
import pytest

from pyksqlite.common.errors import KsqlException
from pyksqlite.common.schema import Column
from pyksqlite.serde.api import FormatInfo
from pyksqlite.serde.testing import (decode_test_value, decode_windowed_test_key, encode_test_value,
                                  encode_windowed_test_key)
from pyksqlite.serde.windowed import SessionWindowedSerde, TimeWindowedSerde
from pyksqlite.common.types import (BIGINT, BOOLEAN, BYTES, DOUBLE, INTEGER, STRING, array, decimal, map_of,
                          struct as struct_of)
from tests.serde.conftest import key_column, serde


@pytest.mark.parametrize("fmt, columns, options, message", [
    ("KAFKA", [Column("V0", BOOLEAN)], {}, "The 'KAFKA' format does not support type 'BOOLEAN'"),
    ("KAFKA", [Column("V0", INTEGER), Column("V1", STRING)], {},
     "The 'KAFKA' format only supports a single field. Got: [`V0` INTEGER, `V1` STRING]"),
    ("KAFKA", [Column("V", INTEGER)], {"wrap_single_value": True},
     "Format 'KAFKA' does not support 'WRAP_SINGLE_VALUE' set to 'true'."),
    ("DELIMITED", [Column("V", array(INTEGER))], {}, "The 'DELIMITED' format does not support type 'ARRAY'"),
    ("NONE", [key_column("K", STRING)], {},
     "The 'NONE' format can only be used when no columns are defined. Got: [`K` STRING KEY]"),
    ("JSON", [Column("M", map_of(INTEGER, STRING))], {}, "JSON only supports MAP types with STRING keys"),
    ("JSON", [Column("A", STRING), Column("B", STRING)], {"wrap_single_value": False},
     "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"),
])
def test_rejected_formats(fmt, columns, options, message):
    with pytest.raises(KsqlException, match=None) as raised:
        serde(fmt, *columns, **options)
    assert message in raised.value.message


def test_time_windowed_key_round_trip():
    codec = TimeWindowedSerde(serde("KAFKA", key_column("K", STRING), key=True), window_size_ms=1000)
    table = pa.table({"K": ["a", "bc"], "WINDOWSTART": [0, 1000], "WINDOWEND": [1000, 2000]})
    encoded = codec.serialize(table)
    assert encoded.to_pylist()[0] == b"a" + struct.pack(">q", 0)
    assert codec.deserialize(encoded).columns.to_pylist() == table.to_pylist()


def test_session_windowed_key_round_trip_and_short_record():
    codec = SessionWindowedSerde(serde("JSON", key_column("K", INTEGER), key=True))
    table = pa.table({"K": pa.array([7], pa.int32()), "WINDOWSTART": [12], "WINDOWEND": [465]})
    encoded = codec.serialize(table)
    assert encoded.to_pylist() == [b"7" + struct.pack(">q", 465) + struct.pack(">q", 12)]
    result = codec.deserialize(pa.concat_arrays([encoded, pa.array([b"x"])]))
    assert result.columns.to_pylist()[0] == {"K": 7, "WINDOWSTART": 12, "WINDOWEND": 465}
    assert list(result.errors) == [1]


@pytest.mark.parametrize("fmt, columns, value, raw", [
    ("JSON", [Column("V", STRING)], "bar", b'"bar"'),
    ("JSON", [Column("V", INTEGER)], {"V": Decimal("1.10")}, b'{"V":1.10}'),
    ("DELIMITED", [Column("V", INTEGER)], "0,zero", b"0,zero"),
    ("KAFKA", [Column("V", INTEGER)], 10, struct.pack(">i", 10)),
    ("KAFKA", [Column("V", BIGINT)], 10000000000, struct.pack(">q", 10000000000)),
    ("KAFKA", [Column("V", DOUBLE)], 10.1, struct.pack(">d", 10.1)),
    ("KAFKA", [Column("V", BYTES)], "ew==", b"{"),
    ("KAFKA", [Column("V", STRING)], "Hello", b"Hello"),
])
def test_test_values_round_trip(fmt, columns, value, raw):
    info = FormatInfo(fmt)
    assert encode_test_value(value, info, columns, False) == raw
    assert decode_test_value(raw, info, columns, False) == value
    assert encode_test_value(None, info, columns, False) is None


def test_windowed_test_keys():
    info, columns = FormatInfo("KAFKA"), [key_column("K", STRING)]
    window = {"start": 12, "end": 465, "type": "session"}
    raw = encode_windowed_test_key("k", window, info, columns)
    assert decode_windowed_test_key(raw, info, columns, "SESSION") == ("k", window)
    raw = encode_windowed_test_key("k", {"start": 0, "end": 1000, "type": "time"}, info, columns)
    assert decode_windowed_test_key(raw, info, columns, "TIME", 1000) == ("k", {"start": 0, "end": 1000, "type": "time"})


def test_json_output_keeps_decimals_exact_and_doubles_as_floats():
    # DECIMAL values are compared exactly, DOUBLE values with ksqlDB's tolerance.
    value = decode_test_value(b'{"S":{"A":10.123451234512345,"B":10.10}}', FormatInfo("JSON"),
                              [Column("S", struct_of([("A", DOUBLE), ("B", decimal(4, 2))]))], False)
    assert value == {"S": {"A": 10.123451234512345, "B": Decimal("10.10")}}
    assert isinstance(value["S"]["A"], float) and isinstance(value["S"]["B"], Decimal)
