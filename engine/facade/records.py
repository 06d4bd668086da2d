"""Records as test harnesses and PRINT see them: key and value as JSON-like Python values.

Encoding and decoding go through the formats of the source registered on the topic, as ksqlDB's
test driver uses the topic's serdes. This is the record-at-a-time edge (tests, PRINT), not a
hot path.
"""
from __future__ import annotations

import base64
import struct
from typing import TYPE_CHECKING, Any, Optional

import pyarrow as pa

from pyksqlite.catalog.metastore import DataSource
from pyksqlite.log.api import HEADER_TYPE
from pyksqlite.common.schema import KEY, VALUE
from pyksqlite.serde.api import FormatInfo
from pyksqlite.serde.testing import decode_test_value, encode_test_value

if TYPE_CHECKING:
    from pyksqlite.facade.engine import Engine, TestRecord

_RAW = FormatInfo("KAFKA")


def _source_for(engine: "Engine", topic: str) -> Optional[DataSource]:
    sources = engine.catalog.sources_on_topic(topic)
    return sources[0] if sources else None


def produce(engine: "Engine", records: list["TestRecord"]) -> None:
    for record in records:
        source = _source_for(engine, record.topic)
        key, value = _encode(source, record)
        engine.log.append(record.topic, pa.table({
            "key": pa.array([key], pa.binary()), "value": pa.array([value], pa.binary()),
            "timestamp": pa.array([record.timestamp or 0], pa.int64()),
            "headers": pa.array([_headers(record.headers)], HEADER_TYPE)}))


def _encode(source: Optional[DataSource], record: "TestRecord") -> tuple[Optional[bytes], Optional[bytes]]:
    if source is None:
        return _raw_bytes(record.key), _raw_bytes(record.value)
    key_columns = [c for c in source.schema.columns if c.namespace == KEY]
    value_columns = [c for c in source.schema.columns if c.namespace == VALUE]
    key = encode_test_value(record.key, source.key_format, key_columns, True) if key_columns else \
        _raw_bytes(record.key)
    if key is not None and source.window is not None and record.window:
        key = key + _window_suffix(source, record.window)
    value = encode_test_value(record.value, source.value_format, value_columns, False)
    return key, value


def _raw_bytes(value: Any) -> Optional[bytes]:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    import orjson
    return orjson.dumps(value)


def _window_suffix(source: DataSource, window: dict) -> bytes:
    start, end = int(window["start"]), int(window["end"])
    if source.window.is_session:
        return struct.pack(">qq", end, start)
    return struct.pack(">q", start)


def _headers(headers: Optional[list[dict]]) -> Optional[list[dict]]:
    if headers is None:
        return None
    out = []
    for header in headers:
        key = header.get("KEY", header.get("key"))
        value = header.get("VALUE", header.get("value"))
        out.append({"key": key, "value": base64.b64decode(value) if value is not None else None})
    return out


def read(engine: "Engine", topic: str) -> list["TestRecord"]:
    from pyksqlite.facade.engine import TestRecord
    from pyksqlite.facade.pull import _read_all
    source = _source_for(engine, topic)
    records = _read_all(engine, topic)
    if engine.log.topic_config(topic).partitions > 1:
        records = records.sort_by([("timestamp", "ascending"), ("partition", "ascending"), ("offset", "ascending")])
    out = []
    for row in records.to_pylist():
        key, window = _decode_key(source, row["key"])
        value = _decode_value(source, row["value"])
        headers = [{"KEY": h["key"], "VALUE": base64.b64encode(h["value"]).decode() if h["value"] is not None else None}
                   for h in row["headers"]] if row["headers"] else None
        out.append(TestRecord(topic, key, value, row["timestamp"], row["partition"], row["offset"],
                              headers, window))
    return out


def _decode_key(source: Optional[DataSource], data: Optional[bytes]) -> tuple[Any, Optional[dict]]:
    if source is None or data is None:
        return (data.decode(errors="replace") if data is not None else None), None
    window = None
    if source.window is not None:
        if source.window.is_session:
            end, start = struct.unpack(">qq", data[-16:])
            data, window = data[:-16], {"start": start, "end": end, "type": "session"}
        else:
            (start,) = struct.unpack(">q", data[-8:])
            data, window = data[:-8], {"start": start, "end": start + (source.window.size_ms or 0), "type": "time"}
    key_columns = [c for c in source.schema.columns if c.namespace == KEY]
    if not key_columns:
        return None, window
    return decode_test_value(data, source.key_format, key_columns, True), window


def _decode_value(source: Optional[DataSource], data: Optional[bytes]) -> Any:
    if data is None:
        return None
    if source is None:
        return data.decode(errors="replace")
    value_columns = [c for c in source.schema.columns if c.namespace == VALUE]
    return decode_test_value(data, source.value_format, value_columns, False)
