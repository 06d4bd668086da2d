"""SQL types <-> Avro / Protobuf / JSON schemas, as ksqlDB (via Kafka Connect's converters) maps them.

Writing: a source's columns become a schema: Avro records named `KsqlDataSourceSchema` in
namespace `io.confluent.ksql.avro_schemas` (nested records `<parent>_<FIELD>`), every field an
optional union `["null", T]` with default null, DECIMAL/DATE/TIME/TIMESTAMP as the Avro logical
types. Reading: a registered schema becomes columns (schema inference), and its Arrow type is
what a batch decodes to before `coerce` reshapes it into the columns' types (fields matched by
exact name, then case-insensitively, numbers and booleans turned into strings when a STRING is
asked for, missing fields null), all on whole Arrow arrays.
"""
from __future__ import annotations

import json
import re
from typing import Any, Optional

import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.errors import KsqlException
from pyksqlite.common.schema import Column
from pyksqlite.common.types import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME, TIMESTAMP, SqlType,
                          array, decimal, map_of, struct, to_arrow)

AVRO_NAMESPACE = "io.confluent.ksql.avro_schemas"
AVRO_DEFAULT_NAME = "KsqlDataSourceSchema"
_AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ----------------------------------------------------------------------------------------------
# Avro: columns -> schema
# ----------------------------------------------------------------------------------------------

def check_avro_names(columns: list[Column]) -> None:
    """ksqlDB's message for column names Avro cannot hold."""
    def check(name: str) -> None:
        if not _AVRO_NAME.match(name):
            first = name[:1]
            problem = "Illegal initial character" if not re.match(r"[A-Za-z_]", first) else "Illegal character"
            raise KsqlException(f"Schema is not compatible with Avro: {problem}: {name}")

    def walk(t: SqlType) -> None:
        for child in [t.element, t.key, t.value]:
            if child is not None:
                walk(child)
        for name, ft in t.fields or ():
            check(name)
            walk(ft)
    for column in columns:
        check(column.name)
        walk(column.type)


def avro_schema(columns: list[Column], wrapped: bool, full_name: Optional[str] = None) -> Any:
    """The Avro schema (as JSON data) ksqlDB writes `columns` with."""
    full_name = full_name or f"{AVRO_NAMESPACE}.{AVRO_DEFAULT_NAME}"
    if not wrapped:
        return _optional(_avro_type(columns[0].type, full_name))
    return _avro_record(full_name, [(c.name, c.type) for c in columns])


def _avro_record(full_name: str, fields: list[tuple[str, SqlType]]) -> dict:
    namespace, _, name = full_name.rpartition(".")
    record: dict[str, Any] = {"type": "record", "name": name}
    if namespace:
        record["namespace"] = namespace
    record["fields"] = [{"name": n, "type": _optional(_avro_type(t, f"{full_name}_{n}")), "default": None}
                        for n, t in fields]
    return record


def _optional(schema: Any) -> list:
    return ["null", schema]


def _avro_type(t: SqlType, name: str) -> Any:
    base = t.base
    simple = {"BOOLEAN": "boolean", "INTEGER": "int", "BIGINT": "long", "DOUBLE": "double",
              "STRING": "string", "BYTES": "bytes"}
    if base in simple:
        return simple[base]
    if base == "DECIMAL":
        return {"type": "bytes", "logicalType": "decimal", "precision": t.precision, "scale": t.scale}
    if base == "DATE":
        return {"type": "int", "logicalType": "date"}
    if base == "TIME":
        return {"type": "int", "logicalType": "time-millis"}
    if base == "TIMESTAMP":
        return {"type": "long", "logicalType": "timestamp-millis"}
    if base == "ARRAY":
        return {"type": "array", "items": _optional(_avro_type(t.element, name))}
    if base == "MAP":
        if t.key.base != "STRING":
            raise KsqlException("Avro only supports MAPs with STRING keys")
        return {"type": "map", "values": _optional(_avro_type(t.value, name))}
    if base == "STRUCT":
        return _avro_record(name, list(t.fields))
    raise KsqlException(f"Avro cannot hold type {t}")


# ----------------------------------------------------------------------------------------------
# Avro: schema -> SQL types and Arrow types
# ----------------------------------------------------------------------------------------------

class AvroNames:
    """Named types of a schema (records, enums, fixed), to resolve references by name."""

    def __init__(self, schema: Any):
        self.types: dict[str, Any] = {}
        self._collect(schema, "")

    def _collect(self, schema: Any, namespace: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind in ("record", "enum", "fixed", "error"):
                ns = schema.get("namespace", namespace)
                name = schema["name"]
                full = name if "." in name or not ns else f"{ns}.{name}"
                self.types[full] = schema
                self.types.setdefault(name.rsplit(".", 1)[-1], schema)
                for f in schema.get("fields", []):
                    self._collect(f["type"], full.rpartition(".")[0])
            elif kind == "array":
                self._collect(schema["items"], namespace)
            elif kind == "map":
                self._collect(schema["values"], namespace)
            elif isinstance(kind, (dict, list)):
                self._collect(kind, namespace)

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema in self.types:
            return self.types[schema]
        if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
            return self.resolve(schema["type"])
        if isinstance(schema, dict) and isinstance(schema.get("type"), str) and schema["type"] in self.types:
            return self.types[schema["type"]]
        return schema


def load_avro(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def _non_null(schema: Any) -> Any:
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null" and not (isinstance(b, dict) and b.get("type") == "null")]
        if len(branches) == 1:
            return branches[0]
        return branches
    return schema


def avro_sql_type(schema: Any, names: AvroNames) -> SqlType:
    """The SQL type ksqlDB infers for an Avro schema."""
    schema = names.resolve(_non_null(names.resolve(schema)))
    if isinstance(schema, list):  # a union of several types: ksqlDB's STRUCT of its members
        return struct([(_union_member_name(b, names), avro_sql_type(b, names)) for b in schema])
    kind = schema.get("type") if isinstance(schema, dict) else schema
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if logical == "decimal":
        return decimal(int(schema.get("precision", 64)), int(schema.get("scale", 0)))
    if logical == "date":
        return DATE
    if logical == "time-millis":
        return TIME
    if logical in ("timestamp-millis", "timestamp-micros"):
        return TIMESTAMP
    simple = {"boolean": BOOLEAN, "int": INTEGER, "long": BIGINT, "float": DOUBLE, "double": DOUBLE,
              "string": STRING, "bytes": BYTES, "enum": STRING, "fixed": BYTES}
    if kind in simple:
        return simple[kind]
    if kind == "array":
        return array(avro_sql_type(schema["items"], names))
    if kind == "map":
        return map_of(STRING, avro_sql_type(schema["values"], names))
    if kind in ("record", "error"):
        return struct([(f["name"].upper() if False else f["name"], avro_sql_type(f["type"], names))
                       for f in schema["fields"]])
    raise KsqlException(f"Unsupported Avro type: {kind}")


def _union_member_name(schema: Any, names: AvroNames) -> str:
    schema = names.resolve(schema)
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed"):
            return schema["name"].rsplit(".", 1)[-1]
        return str(kind)
    return str(schema)


def avro_arrow_type(schema: Any, names: AvroNames) -> pa.DataType:
    """The Arrow type fastavro's decoded values of `schema` convert to directly."""
    t = avro_sql_type(schema, names)
    return _decoded_arrow(schema, names, t)


def _decoded_arrow(schema: Any, names: AvroNames, t: SqlType) -> pa.DataType:
    schema = names.resolve(_non_null(names.resolve(schema)))
    kind = schema.get("type") if isinstance(schema, dict) else schema
    if kind == "float":
        return pa.float32()
    if isinstance(schema, dict) and schema.get("logicalType") == "timestamp-micros":
        return pa.timestamp("us", tz="UTC")
    if isinstance(schema, dict) and schema.get("logicalType") == "timestamp-millis":
        return pa.timestamp("ms", tz="UTC")
    if kind == "array":
        return pa.list_(_decoded_arrow(schema["items"], names, t.element))
    if kind == "map":
        return pa.map_(pa.string(), _decoded_arrow(schema["values"], names, t.value))
    if kind in ("record", "error"):
        return pa.struct([(f["name"], _decoded_arrow(f["type"], names, ft))
                          for f, (_, ft) in zip(schema["fields"], t.fields)])
    return to_arrow(t)


def avro_columns(schema_text: str, wrapped: Optional[bool], is_key: bool) -> tuple[list[tuple[str, SqlType]], bool]:
    """Columns inferred from a registered Avro schema, and whether values are wrapped in a record.

    A record schema gives one column per field unless WRAP_SINGLE_VALUE=false; any other
    schema is a single anonymous column (ROWKEY for keys, ROWVAL for values)."""
    schema = load_avro(schema_text)
    names = AvroNames(schema)
    resolved = names.resolve(_non_null(names.resolve(schema)))
    is_record = isinstance(resolved, dict) and resolved.get("type") in ("record", "error")
    if is_record and wrapped is not False:
        return [(f["name"], avro_sql_type(f["type"], names)) for f in resolved["fields"]], True
    return [("ROWKEY" if is_key else "ROWVAL", avro_sql_type(schema, names))], False


# ----------------------------------------------------------------------------------------------
# Arrow reshaping shared by the schema-registry formats
# ----------------------------------------------------------------------------------------------

def find_field(names: list[str], wanted: str) -> Optional[int]:
    """The index of `wanted` among `names`: exact, else by upper case (ksqlDB's lookup)."""
    if wanted in names:
        return names.index(wanted)
    upper = wanted.upper()
    for i, name in enumerate(names):
        if name.upper() == upper:
            return i
    return None


def coerce(arr: pa.Array, t: SqlType) -> pa.Array:
    """`arr` (any decoded Arrow array) as the Arrow type of `t`."""
    target = to_arrow(t)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type == target:
        return arr
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if t.base == "STRUCT":
        if not pa.types.is_struct(arr.type):
            raise TypeError(f"cannot read {arr.type} as {t}")
        names = [arr.type.field(i).name for i in range(arr.type.num_fields)]
        children = []
        for name, ft in t.fields:
            index = find_field(names, name)
            children.append(pa.nulls(len(arr), to_arrow(ft)) if index is None else coerce(arr.field(index), ft))
        mask = arr.is_null() if arr.null_count else None
        return pa.StructArray.from_arrays(children, names=[n for n, _ in t.fields], mask=mask)
    if t.base == "ARRAY":
        values = coerce(arr.values if arr.offset == 0 else arr.flatten(), t.element)
        offsets = arr.offsets if arr.offset == 0 else _relative_offsets(arr)
        return pa.ListArray.from_arrays(offsets, values, type=target, mask=arr.is_null() if arr.null_count else None)
    if t.base == "MAP":
        keys, items = coerce(arr.keys, t.key), coerce(arr.items, t.value)
        return pa.MapArray.from_arrays(arr.offsets, keys, items, type=target,
                                       mask=arr.is_null() if arr.null_count else None)
    if t.base == "STRING" and pa.types.is_boolean(arr.type):
        return pc.if_else(arr, "true", "false")
    if t.base == "STRING" and (pa.types.is_binary(arr.type)):
        return arr.cast(pa.string())
    if pa.types.is_timestamp(arr.type) and t.base == "TIMESTAMP":
        return arr.cast(pa.timestamp(arr.type.unit)).cast(target)
    return arr.cast(target)


def _relative_offsets(arr: pa.ListArray) -> pa.Array:
    import numpy as np
    offsets = np.asarray(arr.offsets)
    return pa.array(offsets - offsets[0], pa.int32())


def reshape(arr: pa.Array, writer_type: pa.DataType) -> pa.Array:
    """Arrow data of the columns' types made into `writer_type` (the inverse of `coerce`):
    struct fields matched by name, case-insensitively; missing fields null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type == writer_type:
        return arr
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), writer_type)
    if pa.types.is_struct(writer_type):
        names = [arr.type.field(i).name for i in range(arr.type.num_fields)]
        children = []
        for i in range(writer_type.num_fields):
            field = writer_type.field(i)
            index = find_field(names, field.name)
            children.append(pa.nulls(len(arr), field.type) if index is None else reshape(arr.field(index), field.type))
        return pa.StructArray.from_arrays(children, fields=list(writer_type), mask=arr.is_null() if arr.null_count else None)
    if pa.types.is_list(writer_type):
        values = reshape(arr.flatten(), writer_type.value_type)
        return pa.ListArray.from_arrays(_relative_offsets(arr), values, type=writer_type,
                                        mask=arr.is_null() if arr.null_count else None)
    if pa.types.is_map(writer_type):
        keys, items = reshape(arr.keys, writer_type.key_type), reshape(arr.items, writer_type.item_type)
        return pa.MapArray.from_arrays(arr.offsets, keys, items, type=writer_type,
                                       mask=arr.is_null() if arr.null_count else None)
    return arr.cast(writer_type)


def upper_names(t: SqlType) -> SqlType:
    """`t` with struct field names upper-cased, as ksqlDB names inferred columns and fields."""
    if t.base == "STRUCT":
        return struct([(n.upper(), upper_names(ft)) for n, ft in t.fields])
    if t.base == "ARRAY":
        return array(upper_names(t.element))
    if t.base == "MAP":
        return map_of(t.key, upper_names(t.value))
    return t
