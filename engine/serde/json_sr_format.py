"""The JSON_SR format: JSON documents framed with Confluent's header, with a JSON schema in the
registry. The payload is plain JSON, so decoding strips the header (numpy) and hands the whole
batch to the JSON serde (DuckDB); encoding is the JSON serde's output with the header added."""
from __future__ import annotations

import json
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from pyksqlite.common.errors import KsqlException
from pyksqlite.common.schema import Column
from pyksqlite.serde import confluent_wire as wire
from pyksqlite.serde.api import DecodeResult
from pyksqlite.serde.json_format import JsonSerde
from pyksqlite.serde.sr_base import Codec, RegistrySerde
from pyksqlite.common.types import (BIGINT, BOOLEAN, BYTES, DOUBLE, INTEGER, STRING, SqlType, array, decimal, map_of,
                          struct)


def json_schema(columns: list[Column], wrapped: bool) -> dict:
    if not wrapped:
        return _json_type(columns[0].type)
    return {"type": "object", "title": "KsqlDataSourceSchema",
            "properties": {c.name: _json_type(c.type) for c in columns}}


def _json_type(t: SqlType) -> dict:
    nullable = lambda schema: {"oneOf": [{"type": "null"}, schema]}  # noqa: E731
    base = t.base
    if base == "BOOLEAN":
        return nullable({"type": "boolean"})
    if base in ("INTEGER", "BIGINT"):
        return nullable({"type": "integer", "connect.type": "int32" if base == "INTEGER" else "int64"})
    if base == "DOUBLE":
        return nullable({"type": "number", "connect.type": "float64"})
    if base == "DECIMAL":
        return nullable({"type": "number", "title": "org.apache.kafka.connect.data.Decimal",
                         "connect.parameters": {"scale": str(t.scale), "connect.decimal.precision": str(t.precision)}})
    if base in ("STRING",):
        return nullable({"type": "string"})
    if base == "BYTES":
        return nullable({"type": "string", "connect.type": "bytes"})
    if base == "DATE":
        return nullable({"type": "integer", "connect.type": "int32", "title": "org.apache.kafka.connect.data.Date"})
    if base == "TIME":
        return nullable({"type": "integer", "connect.type": "int32", "title": "org.apache.kafka.connect.data.Time"})
    if base == "TIMESTAMP":
        return nullable({"type": "integer", "connect.type": "int64",
                         "title": "org.apache.kafka.connect.data.Timestamp"})
    if base == "ARRAY":
        return nullable({"type": "array", "items": _json_type(t.element)})
    if base == "MAP":
        if t.key.base != "STRING":
            raise KsqlException("JSON only supports MAP types with STRING keys")
        return nullable({"type": "object", "additionalProperties": _json_type(t.value), "connect.type": "map"})
    return nullable({"type": "object", "properties": {n: _json_type(ft) for n, ft in t.fields}})


def json_sql_type(schema: Any) -> SqlType:
    if not isinstance(schema, dict):
        return STRING
    for key in ("oneOf", "anyOf"):
        if key in schema:
            branches = [b for b in schema[key] if b.get("type") != "null"]
            return json_sql_type(branches[0]) if branches else STRING
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    title = schema.get("title", "")
    connect = schema.get("connect.type")
    if title == "org.apache.kafka.connect.data.Decimal":
        params = schema.get("connect.parameters", {})
        return decimal(int(params.get("connect.decimal.precision", 64)), int(params.get("scale", 0)))
    if title.endswith("connect.data.Date"):
        from pyksqlite.common.types import DATE
        return DATE
    if title.endswith("connect.data.Time"):
        from pyksqlite.common.types import TIME
        return TIME
    if title.endswith("connect.data.Timestamp"):
        from pyksqlite.common.types import TIMESTAMP
        return TIMESTAMP
    if kind == "boolean":
        return BOOLEAN
    if kind == "integer":
        return INTEGER if connect in ("int8", "int16", "int32") else BIGINT
    if kind == "number":
        return DOUBLE
    if kind == "string":
        return BYTES if connect == "bytes" else STRING
    if kind == "array":
        return array(json_sql_type(schema.get("items", {})))
    if kind == "object":
        if "properties" in schema:
            return struct([(n, json_sql_type(s)) for n, s in schema["properties"].items()])
        return map_of(STRING, json_sql_type(schema.get("additionalProperties", {})))
    return STRING


def json_sr_columns(schema_text: str, wrapped: Optional[bool], is_key: bool) -> tuple[list[tuple[str, SqlType]], bool]:
    schema = json.loads(schema_text)
    if schema.get("type") == "object" and "properties" in schema and wrapped is not False:
        return [(n, json_sql_type(s)) for n, s in schema["properties"].items()], True
    return [("ROWKEY" if is_key else "ROWVAL", json_sql_type(schema))], False


class _JsonSchemaCodec(Codec):
    def __init__(self, schema_text: str):
        self.schema_text = schema_text


class JsonSrSerde(RegistrySerde):
    schema_type = "JSON"

    def __init__(self, fmt, columns, is_key, wrapped):
        super().__init__(fmt, columns, is_key, wrapped)
        self._json = JsonSerde(columns, wrapped)

    def generated_schema(self) -> str:
        return json.dumps(json_schema(self.columns, self.wrapped))

    def codec(self, schema_text: str, references: dict[str, str]) -> Codec:
        return _JsonSchemaCodec(schema_text)

    def deserialize(self, data: pa.Array) -> DecodeResult:
        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks()
        ids, starts, ends, bad = wire.read_headers(data)
        offsets, values, valid = wire.binary_parts(data)
        # Records without Confluent's header are read as plain JSON, as ksqlDB's JSON_SR reader does.
        starts = np.where(bad | ~valid, offsets[:-1], starts)
        lengths = np.where(valid, ends - starts, 0)
        new_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        index = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(int(new_offsets[-1]))
        body = values[index] if len(index) else np.zeros(0, np.uint8)
        validity = None if valid.all() else pa.array(valid).buffers()[1]
        payloads = pa.Array.from_buffers(pa.large_binary(), len(lengths),
                                         [validity, pa.py_buffer(new_offsets.tobytes()), pa.py_buffer(body.tobytes())],
                                         null_count=int((~valid).sum())).cast(pa.binary())
        return self._json.deserialize(payloads)

    def serialize(self, columns: pa.Table) -> pa.Array:
        schema_id, _ = self.writer()
        return self.frame(self._json.serialize(columns), schema_id)
