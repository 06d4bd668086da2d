"""PROTOBUF (Confluent-framed, schema in the registry) and PROTOBUF_NOSR (bare messages, schema
from the columns): messages decoded and encoded with the protobuf library.

A payload after Confluent's header starts with the message-index list (which message of the
schema file it is: `0` alone for the first). Schemas are parsed from .proto text
(`protobuf_parser`) into a descriptor pool; each record is one C++ parse, and the message
values become one Arrow array per batch. ksqlDB's mapping: uint32/uint64 and fixed widths to
BIGINT, float to DOUBLE, enums to STRING, `confluent.type.Decimal` to DECIMAL,
`google.protobuf.Timestamp` / `google.type.Date` / `google.type.TimeOfDay` to TIMESTAMP, DATE,
TIME, wrappers (`google.protobuf.Int32Value`...) to nullable scalars. proto3 scalars have no
presence, so a null written as a plain scalar reads back as its default (0, "", false) unless
the nullable representation is OPTIONAL or WRAPPER.
"""
from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any, Optional

import pyarrow as pa
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf import timestamp_pb2, wrappers_pb2  # noqa: F401 - registers their files

from pyksqlite.common.errors import KsqlException
from pyksqlite.common.schema import Column
from pyksqlite.serde.protobuf_parser import BUILTIN_FILES, F, parse_proto, resolve_type_names
from pyksqlite.serde.schema_translate import reshape
from pyksqlite.serde.sr_base import Codec, RegistrySerde
from pyksqlite.common.types import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME, TIMESTAMP, SqlType,
                          array, decimal, map_of, struct, to_arrow)

_INT32 = {F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32}
_INT64 = {F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64, F.TYPE_UINT32, F.TYPE_FIXED32, F.TYPE_UINT64,
          F.TYPE_FIXED64}
_WRAPPERS = {"google.protobuf.Int32Value": INTEGER, "google.protobuf.Int64Value": BIGINT,
             "google.protobuf.UInt32Value": BIGINT, "google.protobuf.UInt64Value": BIGINT,
             "google.protobuf.DoubleValue": DOUBLE, "google.protobuf.FloatValue": DOUBLE,
             "google.protobuf.BoolValue": BOOLEAN, "google.protobuf.StringValue": STRING,
             "google.protobuf.BytesValue": BYTES}
_EPOCH = datetime.date(1970, 1, 1)


# ----------------------------------------------------------------------------------------------
# columns -> .proto text
# ----------------------------------------------------------------------------------------------

def proto_schema(columns: list[Column], full_name: Optional[str] = None, nullable: Optional[str] = None) -> str:
    imports: set[str] = set()
    counter = [1]
    name = (full_name or "ConnectDefault1").rsplit(".", 1)[-1]
    package = full_name.rsplit(".", 1)[0] if full_name and "." in full_name else None
    body = _message(name, [(c.name, c.type) for c in columns], imports, counter, nullable, "  ")
    head = 'syntax = "proto3";\n\n'
    if package:
        head += f"package {package};\n\n"
    head += "".join(f'import "{i}";\n' for i in sorted(imports)) + ("\n" if imports else "")
    return head + body


def _message(name: str, fields: list[tuple[str, SqlType]], imports: set, counter: list, nullable, indent: str) -> str:
    nested, lines = [], []
    for number, (field_name, t) in enumerate(fields, start=1):
        type_text = _field_type(field_name, t, imports, counter, nullable, nested, indent)
        options = ""
        if isinstance(type_text, tuple):
            type_text, options = type_text[0], " " + type_text[1]
        lines.append(f"{indent}{type_text} {field_name} = {number}{options};\n")
    return f"message {name} {{\n" + "".join(nested) + "".join(lines) + indent[:-2] + "}\n"


def _field_type(name: str, t: SqlType, imports: set, counter: list, nullable, nested: list, indent: str,
                in_container: bool = False) -> str:
    base = t.base
    scalars = {"BOOLEAN": "bool", "INTEGER": "int32", "BIGINT": "int64", "DOUBLE": "double",
               "STRING": "string", "BYTES": "bytes"}
    if base in scalars:
        if nullable == "WRAPPER" and not in_container:
            imports.add("google/protobuf/wrappers.proto")
            wrapper = {"bool": "Bool", "int32": "Int32", "int64": "Int64", "double": "Double",
                       "string": "String", "bytes": "Bytes"}[scalars[base]]
            return f"google.protobuf.{wrapper}Value"
        return ("optional " if nullable == "OPTIONAL" and not in_container else "") + scalars[base]
    if base == "DECIMAL":
        imports.add("confluent/type/decimal.proto")
        return ('confluent.type.Decimal', f'[(confluent.field_meta) = {{ params: [{{ key: "precision", value: '
                f'"{t.precision}" }}, {{ key: "scale", value: "{t.scale}" }}] }}]')
    if base == "DATE":
        imports.add("google/type/date.proto")
        return "google.type.Date"
    if base == "TIME":
        imports.add("google/type/timeofday.proto")
        return "google.type.TimeOfDay"
    if base == "TIMESTAMP":
        imports.add("google/protobuf/timestamp.proto")
        return "google.protobuf.Timestamp"
    if base == "ARRAY":
        element = _field_type(name, t.element, imports, counter, nullable, nested, indent, True)
        return ("repeated " + element[0], element[1]) if isinstance(element, tuple) else "repeated " + element
    if base == "MAP":
        if t.key.base != "STRING":
            raise KsqlException("PROTOBUF format only supports MAP types with STRING keys")
        value = _field_type(name, t.value, imports, counter, nullable, nested, indent, True)
        if isinstance(value, tuple):
            return (f"map<string, {value[0]}>", value[1])
        return f"map<string, {value}>"
    counter[0] += 1
    message_name = f"ConnectDefault{counter[0]}"
    nested.append(indent + _message(message_name, list(t.fields), imports, counter, nullable, indent + "  "))
    return message_name


# ----------------------------------------------------------------------------------------------
# .proto text -> descriptors, SQL types
# ----------------------------------------------------------------------------------------------

def _pool_for(text: str, references: dict[str, str]):
    pool = descriptor_pool.DescriptorPool()
    known: dict[str, int] = {}
    added: set[str] = set()

    def add_file(file_proto) -> None:
        if file_proto.name in added:
            return
        added.add(file_proto.name)
        for dependency in file_proto.dependency:
            ensure(dependency)
        pool.Add(file_proto)

    def ensure(path: str) -> None:
        if path in added:
            return
        if path in references:
            parsed, _ = parse_proto(references[path], path)
        elif path in BUILTIN_FILES:
            parsed, _ = parse_proto(BUILTIN_FILES[path], path)
        else:
            try:
                source = descriptor_pool.Default().FindFileByName(path)
            except KeyError:
                return
            parsed = descriptor_pb2.FileDescriptorProto()
            source.CopyToProto(parsed)
            for m in parsed.message_type:
                known[f".{parsed.package}.{m.name}"] = F.TYPE_MESSAGE
            add_file(parsed)
            return
        for dependency in parsed.dependency:
            ensure(dependency)
        resolve_type_names(parsed, known)
        add_file(parsed)

    main, params = parse_proto(text, "ksqlite_schema.proto")
    for dependency in list(main.dependency):
        ensure(dependency)
    for name in BUILTIN_FILES:   # ksqlDB's schemas sometimes use these types without the import
        if any(name.split("/")[-2] in (f.type_name or "") for m in main.message_type for f in m.field):
            ensure(name)
            if name not in main.dependency:
                main.dependency.append(name)
    resolve_type_names(main, known)
    pool.Add(main)
    return pool, pool.FindFileByName("ksqlite_schema.proto"), params


def _select_message(file, full_name: Optional[str]):
    """The message a schema's records are (the first, or the one named), and its index path."""
    messages = list(file.message_types_by_name.values())
    if not messages:
        raise KsqlException("Protobuf schema has no message")
    if not full_name:
        return messages[0], [0]
    wanted = full_name.split(".")[-1] if not full_name.startswith(file.package + ".") or not file.package \
        else full_name[len(file.package) + 1:]
    for i, message in enumerate(messages):
        if message.name == wanted or message.full_name == full_name:
            return message, [i]
        for j, nested in enumerate(message.nested_types):
            if f"{message.name}.{nested.name}" == wanted:
                return nested, [i, j]
    raise KsqlException(f"Schema does not contain message {full_name}")


def _sql_type(field, params: dict, path: str) -> SqlType:
    t = _element_type(field, params, path)
    if _repeated(field) and not _is_map(field):
        return array(t)
    return t


def _repeated(field) -> bool:
    repeated = getattr(field, "is_repeated", None)
    return bool(repeated) if repeated is not None else field.label == F.LABEL_REPEATED


def _is_map(field) -> bool:
    return field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def _element_type(field, params: dict, path: str) -> SqlType:
    kind = field.type
    if kind in _INT32:
        return INTEGER
    if kind in _INT64:
        return BIGINT
    if kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return DOUBLE
    if kind == F.TYPE_BOOL:
        return BOOLEAN
    if kind in (F.TYPE_STRING, F.TYPE_ENUM):
        return STRING
    if kind == F.TYPE_BYTES:
        return BYTES
    message = field.message_type
    full = message.full_name
    if _is_map(field):
        return map_of(_element_type(message.fields_by_name["key"], params, path),
                      _element_type(message.fields_by_name["value"], params, path))
    if full in _WRAPPERS:
        return _WRAPPERS[full]
    if full == "confluent.type.Decimal":
        precision, scale = params.get(f"{path}.{field.name}", (64, 0))
        return decimal(precision, scale)
    if full == "google.protobuf.Timestamp":
        return TIMESTAMP
    if full == "google.type.Date":
        return DATE
    if full == "google.type.TimeOfDay":
        return TIME
    return struct([(f.name, _sql_type(f, params, message.full_name))
                   for f in message.fields])


def message_columns(message, params: dict) -> list[tuple[str, SqlType]]:
    return [(f.name, _sql_type(f, params, message.full_name)) for f in message.fields]


def protobuf_columns(text: str, references: dict, full_name: Optional[str], is_key: bool):
    _, file, params = _pool_for(text, references)
    message, _ = _select_message(file, full_name)
    return message_columns(message, params), True


# ----------------------------------------------------------------------------------------------
# messages <-> Python values in the columns' Arrow shape
# ----------------------------------------------------------------------------------------------

def _read_message(msg, descriptor) -> dict:
    out = {}
    for field in descriptor.fields:
        value = getattr(msg, field.name)
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _read_value(v, value_field) for k, v in value.items()}
        elif _repeated(field):
            out[field.name] = [_read_value(v, field) for v in value]
        elif field.type == F.TYPE_MESSAGE or field.has_presence and field.containing_oneof is not None:
            out[field.name] = _read_value(value, field) if msg.HasField(field.name) else None
        else:
            out[field.name] = _read_value(value, field)
    return out


def _read_value(value: Any, field) -> Any:
    kind = field.type
    if kind == F.TYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else str(value)
    if kind != F.TYPE_MESSAGE:
        return value
    full = field.message_type.full_name
    if full in _WRAPPERS:
        return value.value
    if full == "confluent.type.Decimal":
        unscaled = int.from_bytes(value.value, "big", signed=True) if value.value else 0
        return Decimal(unscaled).scaleb(-value.scale)
    if full == "google.protobuf.Timestamp":
        return value.seconds * 1000 + value.nanos // 1_000_000
    if full == "google.type.Date":
        return (datetime.date(value.year, value.month, value.day) - _EPOCH).days if value.year else 0
    if full == "google.type.TimeOfDay":
        return ((value.hours * 60 + value.minutes) * 60 + value.seconds) * 1000 + value.nanos // 1_000_000
    return _read_message(value, field.message_type)


def _write_message(msg, descriptor, data: dict) -> None:
    for field in descriptor.fields:
        value = data.get(field.name)
        if value is None:
            continue
        if _is_map(field):
            target = getattr(msg, field.name)
            value_field = field.message_type.fields_by_name["value"]
            for k, v in (value.items() if isinstance(value, dict) else value):
                if v is None:
                    continue
                if value_field.type == F.TYPE_MESSAGE:
                    _write_into(target[k], value_field, v)
                else:
                    target[k] = _scalar(v, value_field)
        elif _repeated(field):
            target = getattr(msg, field.name)
            for v in value:
                if field.type == F.TYPE_MESSAGE:
                    _write_into(target.add(), field, v) if v is not None else target.add()
                else:
                    target.append(_scalar(v, field) if v is not None else _default(field))
        elif field.type == F.TYPE_MESSAGE:
            _write_into(getattr(msg, field.name), field, value)
            if not getattr(msg, field.name).ListFields():
                getattr(msg, field.name).SetInParent()
        else:
            setattr(msg, field.name, _scalar(value, field))


def _default(field) -> Any:
    """A proto3 scalar's default (a null element of a repeated scalar is written as it)."""
    if field.type == F.TYPE_STRING:
        return ""
    if field.type == F.TYPE_BYTES:
        return b""
    if field.type == F.TYPE_BOOL:
        return False
    return 0


def _scalar(value: Any, field) -> Any:
    if field.type == F.TYPE_ENUM:
        return field.enum_type.values_by_name[value].number if isinstance(value, str) else int(value)
    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return float(value)
    if field.type in _INT32 or field.type in _INT64:
        return int(value)
    return value


def _write_into(target, field, value: Any) -> None:
    full = field.message_type.full_name
    if full in _WRAPPERS:
        target.value = _scalar(value, target.DESCRIPTOR.fields_by_name["value"])
    elif full == "confluent.type.Decimal":
        d = Decimal(value)
        exponent = d.as_tuple().exponent
        scale = max(0, -exponent)
        unscaled = int(d.scaleb(scale))
        length = max(1, (unscaled.bit_length() + 8) // 8)
        target.value = unscaled.to_bytes(length, "big", signed=True)
        target.scale = scale
        target.precision = max(len(str(abs(unscaled))), scale)
    elif full == "google.protobuf.Timestamp":
        millis = _millis(value)
        target.seconds, target.nanos = millis // 1000, (millis % 1000) * 1_000_000
    elif full == "google.type.Date":
        day = value if isinstance(value, datetime.date) else _EPOCH + datetime.timedelta(days=int(value))
        target.year, target.month, target.day = day.year, day.month, day.day
    elif full == "google.type.TimeOfDay":
        if isinstance(value, datetime.time):
            target.hours, target.minutes, target.seconds = value.hour, value.minute, value.second
            target.nanos = value.microsecond * 1000
        else:
            ms = int(value)
            target.hours, target.minutes, target.seconds = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60
            target.nanos = ms % 1000 * 1_000_000
    else:
        _write_message(target, field.message_type, value)


def _millis(value: Any) -> int:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return int(value.timestamp() * 1000)
    return int(value)


def _decoded_arrow(fields: list[tuple[str, SqlType]]) -> pa.DataType:
    return pa.struct([(n, to_arrow(t)) for n, t in fields])


# ----------------------------------------------------------------------------------------------
# message indexes
# ----------------------------------------------------------------------------------------------

def _zigzag(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_zigzag(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos


def index_prefix(indexes: list[int]) -> bytes:
    if indexes == [0]:
        return b"\x00"
    return _zigzag(len(indexes)) + b"".join(_zigzag(i) for i in indexes)


def skip_indexes(payload: bytes) -> tuple[list[int], bytes]:
    count, pos = _read_zigzag(payload, 0)
    if count == 0:
        return [0], payload[pos:]
    indexes = []
    for _ in range(count):
        i, pos = _read_zigzag(payload, pos)
        indexes.append(i)
    return indexes, payload[pos:]


class ProtobufCodec(Codec):
    def __init__(self, schema_text: str, references: dict[str, str], full_name: Optional[str], framed: bool):
        self.schema_text = schema_text
        self.pool, self.file, self.params = _pool_for(schema_text, references)
        self.descriptor, self.indexes = _select_message(self.file, full_name)
        self.message_class = message_factory.GetMessageClass(self.descriptor)
        self.framed = framed
        self.fields = message_columns(self.descriptor, self.params)
        self.arrow_type = _decoded_arrow(self.fields)

    def decode(self, payloads: list[bytes]) -> tuple[pa.Array, dict[int, str]]:
        values, errors = [], {}
        for i, payload in enumerate(payloads):
            try:
                if self.framed:
                    _, payload = skip_indexes(payload)
                msg = self.message_class()
                msg.ParseFromString(payload)
                values.append(_read_message(msg, self.descriptor))
            except Exception as error:  # noqa: BLE001
                values.append(None)
                errors[i] = f"Failed to deserialize Protobuf message: {error}"
        return pa.array(values, type=self.arrow_type), errors

    def encode(self, values: pa.Array) -> pa.Array:
        shaped = reshape(values, self.arrow_type)
        prefix = index_prefix(self.indexes) if self.framed else b""
        out = []
        for row in shaped.to_pylist():
            if row is None:
                out.append(None)
                continue
            msg = self.message_class()
            _write_message(msg, self.descriptor, row)
            out.append(prefix + msg.SerializeToString())
        return pa.array(out, pa.binary())


class ProtobufSerde(RegistrySerde):
    schema_type = "PROTOBUF"

    def __init__(self, fmt, columns, is_key, wrapped):
        self.uses_registry = fmt.name.upper() == "PROTOBUF"
        # Protobuf cannot hold an anonymous primitive, so values and keys are messages; a key
        # that is a single STRUCT column is that struct's message (ksqlDB unwraps single keys).
        unwrapped = is_key and len(columns) == 1 and columns[0].type.base == "STRUCT"
        super().__init__(fmt, columns, is_key, not unwrapped)
        self.nullable = dict(fmt.properties).get("nullableRepresentation")

    def generated_schema(self) -> str:
        columns = self.columns if self.wrapped else [Column(n, t) for n, t in self.columns[0].type.fields]
        return proto_schema(columns, self.full_name, self.nullable)

    def codec(self, schema_text: str, references: dict[str, str]) -> Codec:
        full_name = self.full_name
        if full_name and schema_text == self.generated_schema():
            full_name = None
        return ProtobufCodec(schema_text, references, full_name, self.uses_registry)

    def writer_columns(self) -> tuple[list[Column], bool]:
        _, codec = self.writer()
        return [Column(n, t) for n, t in codec.fields], True
