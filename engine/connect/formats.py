"""Kafka Connect's converters as ksqlite's formats, and writing columns as record keys and values.

A connector names its converters as Kafka Connect's workers do (`key.converter`,
`value.converter`: StringConverter, JsonConverter, AvroConverter, ProtobufConverter,
JsonSchemaConverter ...), or a format by name (`key.format`, `value.format`, or Confluent
Cloud's `output.data.format`): JSON, AVRO, PROTOBUF, JSON_SR, KAFKA, DELIMITED. The registry
formats go through the engine's schema registry: the schema of the written columns is
registered under `<topic>-key` / `<topic>-value`, as Confluent's converters do.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import pyarrow as pa

from pyksqlite.common.schema import KEY, VALUE, Column
from pyksqlite.connect.api import ConnectError
from pyksqlite.serde.api import FormatInfo
from pyksqlite.serde.factory import create_serde
from pyksqlite.serde.registry import sources as registry_sources

CONVERTERS = {
    "org.apache.kafka.connect.storage.StringConverter": "KAFKA",
    "org.apache.kafka.connect.json.JsonConverter": "JSON",
    "io.confluent.connect.avro.AvroConverter": "AVRO",
    "io.confluent.connect.protobuf.ProtobufConverter": "PROTOBUF",
    "io.confluent.connect.json.JsonSchemaConverter": "JSON_SR",
    "org.apache.kafka.connect.converters.ByteArrayConverter": "KAFKA",
}
FORMATS = ("JSON", "AVRO", "PROTOBUF", "JSON_SR", "KAFKA", "DELIMITED")
_REGISTRY_TYPES = {"AVRO": "AVRO", "PROTOBUF": "PROTOBUF", "JSON_SR": "JSON"}


def format_of(config: dict[str, str], part: str, default: str) -> str:
    """The format a connector writes (or reads) its keys or values in; `part` is key|value."""
    named = config.get(f"{part}.format") or (config.get("output.data.format") if part == "value" else None)
    if named:
        name = named.strip().upper()
        if name not in FORMATS:
            raise ConnectError(400, f"Unknown {part} format '{named}': use one of {', '.join(FORMATS)}.")
        return name
    converter = config.get(f"{part}.converter")
    if converter is None:
        return default
    name = CONVERTERS.get(converter.strip())
    if name is None:
        raise ConnectError(400, f"Unsupported {part}.converter '{converter}': the embedded worker "
                                f"has {', '.join(sorted(CONVERTERS))}.")
    if name == "JSON" and str(config.get(f"{part}.converter.schemas.enable", "false")).lower() == "true":
        raise ConnectError(400, f"{part}.converter.schemas.enable=true is not supported by the embedded "
                                "worker (ksqlDB reads schemaless JSON): set it to false or use JSON_SR.")
    return name


class RecordWriter:
    """Columns to key or value bytes in one format, registering the schema first for the
    registry formats. `registry`/`registry_token`: the engine's schema registry."""

    def __init__(self, fmt: str, columns: list[Column], is_key: bool, topic: str,
                 registry=None, registry_token: Optional[str] = None):
        part = "KEY" if is_key else "VALUE"
        columns = [Column(c.name, c.type, KEY if is_key else VALUE) for c in columns]
        info = registry_sources.attach(FormatInfo(fmt), registry_token, topic, part, {})
        self.serde = create_serde(info, columns, is_key)
        if fmt in _REGISTRY_TYPES and registry is not None:
            try:
                schema_id = registry.register(f"{topic}-{part.lower()}", self.serde.generated_schema(),
                                              _REGISTRY_TYPES[fmt])
            except Exception as error:  # noqa: BLE001 - incompatible or unreachable: the config's error
                raise ConnectError(400, f"Could not register the {part.lower()} schema of topic {topic}: "
                                        f"{getattr(error, 'message', error)}") from None
            info = replace(info, properties=tuple(sorted({**dict(info.properties),
                                                          "schemaId": str(schema_id)}.items())))
            self.serde = create_serde(info, columns, is_key)
        self.columns = columns

    def write(self, table: pa.Table) -> pa.Array:
        return self.serde.serialize(table)
