"""Schema-registry rules of CREATE and C*AS: inferring columns from registered schemas,
KEY/VALUE_SCHEMA_ID and *_SCHEMA_FULL_NAME, and registering the schemas of sinks.

The formats a statement resolves get, in `FormatInfo.properties`, what their serdes need to find
schemas: the registry token, the subject (`<topic>-key` / `<topic>-value`), the schema id to
write with when one is fixed, and the full name of the record/message.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.common.schema import KEY, VALUE, Column
from pyksqlite.serde.api import FormatInfo

REGISTRY_FORMATS = ("AVRO", "PROTOBUF", "JSON_SR")          # formats whose schemas live in the registry
SCHEMA_FORMATS = REGISTRY_FORMATS + ("PROTOBUF_NOSR",)
_SCHEMA_TYPE = {"AVRO": "AVRO", "PROTOBUF": "PROTOBUF", "JSON_SR": "JSON"}


def declared_format(props: dict, config, part: str) -> Optional[str]:
    name = props.get(f"{part}_FORMAT") or props.get("FORMAT")
    if name is None:
        name = config.get(f"ksql.persistence.default.format.{part.lower()}", "KAFKA" if part == "KEY" else None)
    return str(name).upper() if name is not None else None


def check_properties(props: dict, config, has_key_columns: bool, has_value_columns: bool, is_create: bool,
                     resolved: Optional[dict] = None) -> None:
    for part, has_columns in (("KEY", has_key_columns), ("VALUE", has_value_columns)):
        fmt = (resolved or {}).get(part) or declared_format(props, config, part)
        full_names = [props[k] for k in (f"{part}_SCHEMA_FULL_NAME", f"{part}_AVRO_SCHEMA_FULL_NAME") if k in props]
        for full_name in full_names:
            if not str(full_name).strip():
                raise KsqlStatementException(
                    "fullSchemaName cannot be empty. Format configuration: {fullSchemaName=}")
            if fmt not in SCHEMA_FORMATS:
                raise KsqlStatementException(f"{fmt} does not support the following configs: [fullSchemaName]")
        if f"{part}_SCHEMA_ID" in props:
            if fmt not in REGISTRY_FORMATS:
                raise KsqlStatementException(
                    f"{part}_FORMAT should support schema inference when {part}_SCHEMA_ID is provided. "
                    f"Current format is {fmt}.")
            if is_create and has_columns:
                raise KsqlStatementException(
                    f"Table elements and {part}_SCHEMA_ID cannot both exist for create statement.")


def infer_columns(registry, props: dict, config, topic: str, has_key: bool, has_value: bool,
                  wrap: Optional[bool]) -> tuple[list[Column], list[Column]]:
    """Key and value columns taken from the registry for what the statement did not declare."""
    keys: list[Column] = []
    values: list[Column] = []
    if registry is None:
        return keys, values
    for part, declared in (("KEY", has_key), ("VALUE", has_value)):
        fmt = declared_format(props, config, part)
        if declared or fmt not in REGISTRY_FORMATS:
            continue
        subject = f"{topic}-{part.lower()}"
        schema_id = props.get(f"{part}_SCHEMA_ID")
        if schema_id is not None:
            registered = registry.by_id(int(schema_id))
        else:
            registered = registry.latest(subject)
            if registered is None:
                if part == "KEY":
                    continue
                raise KsqlStatementException(
                    f"Schema for message values on topic '{topic}' does not exist in the Schema Registry."
                    f"Subject: {subject}\n\nPossible causes include:\n- The topic itself does not exist\n"
                    "- The schema has not been registered yet")
        full_name = props.get(f"{part}_SCHEMA_FULL_NAME") or props.get(f"{part}_AVRO_SCHEMA_FULL_NAME")
        references = registry.resolve_references(registered)
        # ksqlDB keeps a schema's names when it was chosen by id, and upper-cases them otherwise.
        inferred, _ = schema_columns(fmt, registered.schema, references, None if part == "KEY" else wrap,
                                     part == "KEY", full_name, upper=schema_id is None)
        namespace = KEY if part == "KEY" else VALUE
        target = keys if part == "KEY" else values
        target.extend(Column(name, typ, namespace) for name, typ in inferred)
    return keys, values


def schema_columns(fmt: str, text: str, references: dict, wrap: Optional[bool], is_key: bool,
                   full_name: Optional[str] = None, upper: bool = True):
    from pyksqlite.serde.schema_translate import upper_names
    if fmt == "AVRO":
        from pyksqlite.serde.schema_translate import avro_columns
        columns, wrapped = avro_columns(text, wrap, is_key)
    elif fmt == "JSON_SR":
        from pyksqlite.serde.json_sr_format import json_sr_columns
        columns, wrapped = json_sr_columns(text, wrap, is_key)
    else:
        from pyksqlite.serde.protobuf_format import protobuf_columns
        columns, wrapped = protobuf_columns(text, references, full_name, is_key)
    if not upper:
        return columns, wrapped
    return [(name.upper(), upper_names(t)) for name, t in columns], wrapped


def attach(fmt: FormatInfo, registry_token: Optional[str], topic: str, part: str, props: dict) -> FormatInfo:
    """`fmt` with what its serde needs to find schemas."""
    if fmt.name not in SCHEMA_FORMATS:
        return fmt
    extra: dict[str, Any] = dict(fmt.properties)
    if registry_token and fmt.name in REGISTRY_FORMATS:
        extra["registry"] = registry_token
        extra["subject"] = f"{topic}-{part.lower()}"
    if props.get(f"{part}_SCHEMA_ID") is not None:
        extra["schemaId"] = str(props[f"{part}_SCHEMA_ID"])
    full_name = props.get(f"{part}_SCHEMA_FULL_NAME") or props.get(f"{part}_AVRO_SCHEMA_FULL_NAME")
    if full_name:
        extra["fullSchemaName"] = str(full_name).strip()
    nullable = props.get(f"{part}_PROTOBUF_NULLABLE_REPRESENTATION")
    if nullable:
        extra["nullableRepresentation"] = str(nullable).upper()
    return replace(fmt, properties=tuple(sorted(extra.items())))


def register_sink(registry, source, create_serde) -> None:
    """Register a C*AS sink's schemas (ksqlDB's SchemaRegisterInjector), fixing the ids its
    serdes write with; a schema given by id must hold the sink's columns in order."""
    if registry is None:
        return
    for part, fmt, columns, is_key in (("KEY", source.key_format, source.schema.key_columns, True),
                                       ("VALUE", source.value_format, source.schema.value_columns, False)):
        if fmt.name not in REGISTRY_FORMATS or not columns:
            continue
        props = dict(fmt.properties)
        serde = create_serde(fmt, columns, is_key)
        if "schemaId" in props:
            _check_columns_match(serde, columns, part)
            continue
        text = serde.generated_schema()
        subject = props.get("subject")
        try:
            schema_id = registry.register(subject, text, _SCHEMA_TYPE[fmt.name])
        except Exception as error:  # noqa: BLE001
            raise KsqlStatementException(
                f"Could not register schema for topic: {getattr(error, 'message', error)}") from error
        props["schemaId"] = str(schema_id)
        updated = replace(fmt, properties=tuple(sorted(props.items())))
        if is_key:
            source.key_format = updated
        else:
            source.value_format = updated


def _check_columns_match(serde, columns: list[Column], part: str) -> None:
    registered, _ = serde.writer_columns()
    mismatched = [c for i, c in enumerate(columns)
                  if i >= len(registered) or registered[i].name.upper() != c.name.upper()]
    if mismatched:
        shown = ", ".join(f"`{c.name}` {c.type}" for c in mismatched)
        schema = ", ".join(f"`{c.name}` {c.type}" for c in registered)
        raise KsqlStatementException(
            f"The following {part.lower()} columns are changed, missing or reordered: [{shown}]. "
            f"Schema from schema registry is [{schema}]")
