"""Picks and validates the serde for a format, a list of columns and key-or-value.

Validation messages follow ksqlDB's (FormatFactory and the formats' supported-type checks).
"""
from __future__ import annotations

from pyksqlite.common.errors import KsqlException
from pyksqlite.common.schema import Column
from pyksqlite.serde.api import FormatInfo, Serde
from pyksqlite.serde.delimited import DelimitedSerde
from pyksqlite.serde.json_format import JsonSerde
from pyksqlite.serde.kafka_format import SUPPORTED_TYPES as KAFKA_TYPES, KafkaSerde
from pyksqlite.serde.none_format import NoneSerde
from pyksqlite.common.types import SqlType

NOT_YET_SUPPORTED: tuple[str, ...] = ()
SCHEMA_REGISTRY_FORMATS = ("AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR")
SUPPORTED = ("JSON", "DELIMITED", "KAFKA", "NONE") + SCHEMA_REGISTRY_FORMATS
_COMPLEX = ("ARRAY", "MAP", "STRUCT")


def _describe(columns: list[Column]) -> str:
    return "[" + ", ".join(c.describe() for c in columns) + "]"


def _contains(t: SqlType, predicate) -> bool:
    if predicate(t):
        return True
    children = [t.element, t.key, t.value] + [ft for _, ft in (t.fields or ())]
    return any(child is not None and _contains(child, predicate) for child in children)


def validate_format(fmt: FormatInfo, columns: list[Column], is_key: bool) -> None:
    """Raise KsqlException when `fmt` cannot hold `columns` (as ksqlDB rejects the statement)."""
    name = fmt.name.upper()
    if name in NOT_YET_SUPPORTED:
        raise KsqlException(f"The '{name}' format is not supported yet by ksqlite")
    if name not in SUPPORTED:
        raise KsqlException(f"Unknown format: {fmt.name}")
    if name == "NONE" and columns:
        raise KsqlException(f"The 'NONE' format can only be used when no columns are defined. Got: {_describe(columns)}")
    if name in ("KAFKA", "DELIMITED") and fmt.wrap_single_value:
        raise KsqlException(f"Format '{name}' does not support 'WRAP_SINGLE_VALUE' set to 'true'.")
    if not is_key and fmt.wrap_single_value is False and len(columns) > 1:
        raise KsqlException("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")
    if name == "KAFKA":
        _validate_kafka(columns)
    if name == "DELIMITED":
        for column in columns:
            if column.type.base in _COMPLEX:
                raise KsqlException(f"The 'DELIMITED' format does not support type '{column.type.base}', "
                                   f"column: `{column.name}`")
    if name in SCHEMA_REGISTRY_FORMATS:
        _validate_schema_registry_format(name, fmt, columns, is_key)
    if name in ("JSON", "JSON_SR") and any(_contains(c.type, lambda t: t.base == "MAP" and t.key.base != "STRING")
                              for c in columns):
        raise KsqlException("JSON only supports MAP types with STRING keys")


def _validate_schema_registry_format(name: str, fmt: FormatInfo, columns: list[Column], is_key: bool) -> None:
    from pyksqlite.serde.schema_translate import check_avro_names
    has_map_key = any(_contains(c.type, lambda t: t.base == "MAP" and t.key.base != "STRING") for c in columns)
    if name == "AVRO":
        if has_map_key:
            raise KsqlException("Avro only supports MAPs with STRING keys")
        check_avro_names(columns)
    if name.startswith("PROTOBUF"):
        if has_map_key:
            raise KsqlException("PROTOBUF format only supports MAP types with STRING keys")
        if not is_key and fmt.wrap_single_value is False:
            raise KsqlException(f"Format '{name}' does not support 'WRAP_SINGLE_VALUE' set to 'false'.")


def _validate_kafka(columns: list[Column]) -> None:
    for column in columns:
        if column.type.base not in KAFKA_TYPES:
            raise KsqlException(f"The 'KAFKA' format does not support type '{column.type.base}'")
    if len(columns) > 1:
        raise KsqlException(f"The 'KAFKA' format only supports a single field. Got: {_describe(columns)}")


def is_wrapped(fmt: FormatInfo, columns: list[Column], is_key: bool) -> bool:
    """Whether the columns are written as an object/record rather than a single anonymous value."""
    if len(columns) != 1:
        return True
    if is_key:
        return False
    return fmt.wrap_single_value is not False


def create_serde(fmt: FormatInfo, columns: list[Column], is_key: bool) -> Serde:
    """The serde for `columns` in format `fmt`, after checking the format can hold them."""
    validate_format(fmt, columns, is_key)
    name = fmt.name.upper()
    if name == "NONE" or not columns:
        return NoneSerde()
    if name == "JSON":
        return JsonSerde(columns, wrapped=is_wrapped(fmt, columns, is_key))
    if name == "DELIMITED":
        return DelimitedSerde(columns, fmt.delimiter)
    if name == "AVRO":
        from pyksqlite.serde.avro_format import AvroSerde
        return AvroSerde(fmt, columns, is_key, is_wrapped(fmt, columns, is_key))
    if name == "JSON_SR":
        from pyksqlite.serde.json_sr_format import JsonSrSerde
        return JsonSrSerde(fmt, columns, is_key, is_wrapped(fmt, columns, is_key))
    if name in ("PROTOBUF", "PROTOBUF_NOSR"):
        from pyksqlite.serde.protobuf_format import ProtobufSerde
        return ProtobufSerde(fmt, columns, is_key, True)
    return KafkaSerde(columns[0])
