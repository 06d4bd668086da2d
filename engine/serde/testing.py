"""Record-at-a-time conversions between QTT-style JSON values and record bytes (tests and PRINT).

ksqlDB's test harness writes each input value in the topic's format and reads each output back
into a JSON-like value: a JSON value as given (even a bare string or number), DELIMITED text,
KAFKA numbers and strings (BYTES as base64 text). Non-integral JSON numbers stay exact as
`decimal.Decimal`. This is the test and PRINT edge, so one Python call per record is fine here.
"""
from __future__ import annotations

import base64
import decimal
import json
import struct
from decimal import Decimal
from typing import Any, Optional

from pyksqlite.common.schema import Column
from pyksqlite.serde.api import FormatInfo

_KAFKA_PACKING = {"INTEGER": ">i", "BIGINT": ">q", "DOUBLE": ">d"}
_WINDOW_BYTES = struct.Struct(">q")


def dump_json(value: Any) -> str:
    """JSON text of a value; Decimal is written as its exact number text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dump_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dump_json(v) for v in value) + "]"
    return json.dumps(value)


def load_json(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def encode_test_value(value: Any, fmt: FormatInfo, columns: list[Column], is_key: bool) -> Optional[bytes]:
    """Bytes of a QTT input value in format `fmt` (None stays None: a null key or a tombstone)."""
    if value is None:
        return None
    name = fmt.name.upper()
    if name in _SCHEMA_REGISTRY_FORMATS:
        return _encode_with_schema(value, fmt, columns, is_key)
    if name == "KAFKA" and len(columns) == 1:
        return _encode_kafka(value, columns[0])
    if name == "JSON" or not isinstance(value, str):
        return dump_json(value).encode("utf-8")
    return value.encode("utf-8")


_SCHEMA_REGISTRY_FORMATS = ("AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR")


def _encode_with_schema(value: Any, fmt: FormatInfo, columns: list[Column], is_key: bool) -> Optional[bytes]:
    """A QTT value converted through the schema the record is written with (the subject's
    registered schema if any), as ksqlDB's harness serializes test data: JSON -> columns of the
    writer schema -> the format's bytes."""
    import pyarrow as pa
    from pyksqlite.serde.factory import create_serde
    from pyksqlite.serde.json_format import JsonSerde
    serde = create_serde(fmt, columns, is_key)
    writer_columns, wrapped = serde.writer_columns()
    decoded = JsonSerde(writer_columns, wrapped).deserialize(pa.array([dump_json(value).encode()], pa.binary()))
    if decoded.errors:
        raise ValueError(f"cannot convert {value!r} to the topic's schema: {decoded.errors[0]}")
    writer = serde if writer_columns is columns else create_serde(fmt, writer_columns, is_key)
    if writer is not serde:
        writer.wrapped = wrapped
        writer._writer = serde.writer()
    return writer.serialize(decoded.columns)[0].as_py()


def _decode_with_schema(data: bytes, fmt: FormatInfo, columns: list[Column], is_key: bool) -> Any:
    import pyarrow as pa
    from pyksqlite.serde.factory import create_serde
    from pyksqlite.serde.json_format import JsonSerde
    serde = create_serde(fmt, columns, is_key)
    decoded = serde.deserialize(pa.array([data], pa.binary()))
    if decoded.errors:
        raise ValueError(decoded.errors[0])
    text = JsonSerde(columns, serde.wrapped).serialize(decoded.columns)[0].as_py()
    return load_json(text.decode("utf-8"))


def _encode_kafka(value: Any, column: Column) -> bytes:
    base = column.type.base
    if base in _KAFKA_PACKING:
        number = float(value) if base == "DOUBLE" else int(value)
        return struct.pack(_KAFKA_PACKING[base], number)
    if base == "BYTES":
        return base64.b64decode(value) if isinstance(value, str) else bytes(value)
    return (value if isinstance(value, str) else dump_json(value)).encode("utf-8")


def decode_test_value(data: Optional[bytes], fmt: FormatInfo, columns: list[Column], is_key: bool) -> Any:
    """The JSON-like value QTT expects for record bytes in format `fmt`."""
    if data is None:
        return None
    name = fmt.name.upper()
    if name == "NONE" or not columns:
        return None
    if name in _SCHEMA_REGISTRY_FORMATS:
        return _decode_with_schema(data, fmt, columns, is_key)
    if name == "JSON":
        return _doubles_as_floats(load_json(data.decode("utf-8")), columns, is_key, fmt)
    if name == "DELIMITED":
        return data.decode("utf-8")
    base = columns[0].type.base
    if base in _KAFKA_PACKING:
        return struct.unpack(_KAFKA_PACKING[base], data)[0]
    if base == "BYTES":
        return base64.b64encode(data).decode("ascii")
    return data.decode("utf-8")


def _doubles_as_floats(value: Any, columns: list[Column], is_key: bool, fmt: FormatInfo) -> Any:
    """DOUBLE members as floats (compared with a tolerance, as ksqlDB's harness does); exact
    decimals stay Decimal."""
    from pyksqlite.serde.factory import is_wrapped
    if not is_wrapped(fmt, columns, is_key):
        return _typed(value, columns[0].type)
    if not isinstance(value, dict):
        return value
    types = {c.name: c.type for c in columns}
    return {k: _typed(v, types[k]) if k in types else v for k, v in value.items()}


def _typed(value: Any, t) -> Any:
    if value is None:
        return None
    if t.base == "DOUBLE" and isinstance(value, decimal.Decimal):
        return float(value)
    if t.base == "ARRAY" and isinstance(value, list):
        return [_typed(v, t.element) for v in value]
    if t.base == "MAP" and isinstance(value, dict):
        return {k: _typed(v, t.value) for k, v in value.items()}
    if t.base == "STRUCT" and isinstance(value, dict):
        types = dict(t.fields)
        return {k: _typed(v, types[k]) if k in types else v for k, v in value.items()}
    return value


def encode_windowed_test_key(value: Any, window: dict, fmt: FormatInfo, columns: list[Column]) -> bytes:
    """A windowed key: the inner key's bytes, then the window (`{"start", "end", "type"}`)."""
    inner = encode_test_value(value, fmt, columns, is_key=True) or b""
    if str(window.get("type", "time")).upper() == "SESSION":
        return inner + _WINDOW_BYTES.pack(int(window["end"])) + _WINDOW_BYTES.pack(int(window["start"]))
    return inner + _WINDOW_BYTES.pack(int(window["start"]))


def decode_windowed_test_key(data: bytes, fmt: FormatInfo, columns: list[Column], window_type: str,
                             window_size_ms: Optional[int] = None) -> tuple[Any, dict]:
    """(inner key value, {"start", "end", "type"}) of a windowed key; time windows need their size."""
    if window_type.upper() == "SESSION":
        end, start = _WINDOW_BYTES.unpack(data[-16:-8])[0], _WINDOW_BYTES.unpack(data[-8:])[0]
        inner, window = data[:-16], {"start": start, "end": end, "type": "session"}
    else:
        start = _WINDOW_BYTES.unpack(data[-8:])[0]
        end = start + window_size_ms if window_size_ms is not None else None
        inner, window = data[:-8], {"start": start, "end": end, "type": "time"}
    return decode_test_value(inner, fmt, columns, is_key=True), window
