"""DDL rules: formats, topics and schemas of CREATE STREAM/TABLE and of C*AS sinks, as ksqlDB checks them."""
from __future__ import annotations

from typing import Any, Optional

from pyksqlite.catalog.metastore import STREAM, TABLE, Catalog, DataSource, WindowInfo
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.common.schema import HEADER, HEADERS, KEY, VALUE, Column, LogicalSchema
from pyksqlite.serde.api import FormatInfo
from pyksqlite.common.types import BYTES, STRING, SqlType, array, struct
from pyksqlite.grammar import ast

KNOWN_FORMATS = ("JSON", "DELIMITED", "KAFKA", "NONE", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR")
HEADERS_TYPE = array(struct([("KEY", STRING), ("VALUE", BYTES)]))
_DELIMITER_NAMES = {"SPACE": " ", "TAB": "\t"}


class Config:
    """Engine properties, looked up the way ksqlDB accepts them (with or without `ksql.streams.`)."""

    def __init__(self, properties: dict[str, Any]):
        self.properties = properties

    def get(self, name: str, default: Any = None) -> Any:
        for key in (name, f"ksql.streams.{name}", name.removeprefix("ksql.streams.")):
            if key in self.properties:
                return self.properties[key]
        return default

    def get_bool(self, name: str, default: bool) -> bool:
        value = self.get(name, default)
        return value if isinstance(value, bool) else str(value).strip().lower() == "true"


def parse_columns(catalog: Catalog, kind: str, elements: tuple[ast.ColumnDef, ...]) -> LogicalSchema:
    """The logical schema of CREATE STREAM/TABLE's column list, with ksqlDB's checks."""
    keys, others = [], []
    seen: set[str] = set()
    for element in elements:
        if element.name in ("ROWTIME", "ROWPARTITION", "ROWOFFSET", "WINDOWSTART", "WINDOWEND"):
            raise KsqlStatementException(
                f"'{element.name}' is a reserved column name. You cannot use it as a name for a column.")
        if element.name in seen:
            raise KsqlStatementException(f"Duplicate column names: {element.name}")
        seen.add(element.name)
        typ = catalog.resolve_type(element.type)
        constraint = element.constraint
        if constraint == "PRIMARY KEY" and kind == STREAM:
            raise KsqlStatementException(
                f"Column `{element.name}` is a 'PRIMARY KEY' column: please use 'KEY' for streams.")
        if constraint == "KEY" and kind == TABLE:
            raise KsqlStatementException(
                f"Column `{element.name}` is a 'KEY' column: please use 'PRIMARY KEY' for tables.")
        if constraint in ("KEY", "PRIMARY KEY"):
            check_key_type(element.name, typ)
            keys.append(Column(element.name, typ, KEY))
        elif constraint == "HEADERS":
            if typ != HEADERS_TYPE:
                raise KsqlStatementException(
                    f"Invalid type for HEADERS column: expected {HEADERS_TYPE}, got {typ}")
            others.append(Column(element.name, typ, HEADERS))
        elif constraint == "HEADER":
            if typ != BYTES:
                raise KsqlStatementException(
                    f"Invalid type for HEADER('{element.header_key}') column: expected BYTES, got {typ}")
            others.append(Column(element.name, typ, HEADER, element.header_key))
        else:
            others.append(Column(element.name, typ, VALUE))
    if kind == TABLE and not keys:
        raise KsqlStatementException("Tables require a PRIMARY KEY. Please define the PRIMARY KEY.")
    return LogicalSchema(tuple(keys + others))


def check_key_type(name: str, typ: SqlType) -> None:
    if _contains_map(typ):
        raise KsqlStatementException(
            "Map keys, including types that contain maps, are not supported as they may lead to "
            "unexpected behavior due to inconsistent serialization. "
            f"Key column name: `{name}`. Column type: {typ}. "
            "See https://github.com/confluentinc/ksql/issues/6621 for more.")


def _contains_map(typ: SqlType) -> bool:
    if typ.base == "MAP":
        return True
    if typ.base == "ARRAY":
        return _contains_map(typ.element)
    if typ.base == "STRUCT":
        return any(_contains_map(t) for _, t in typ.fields)
    return False


def resolve_formats(props: dict[str, Any], config: Config, has_key_columns: bool,
                    inherited: Optional[DataSource] = None, value_columns: int = 0) -> tuple[FormatInfo, FormatInfo]:
    """Key and value formats from WITH (FORMAT / KEY_FORMAT / VALUE_FORMAT), the inherited source
    (C*AS), or the configured defaults."""
    fmt = props.get("FORMAT")
    if fmt is not None and ("KEY_FORMAT" in props or "VALUE_FORMAT" in props):
        which = "KEY_FORMAT" if "KEY_FORMAT" in props else "VALUE_FORMAT"
        raise KsqlStatementException(
            f"Cannot supply both '{which}' and 'FORMAT' properties, as 'FORMAT' sets both key and "
            "value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'.")
    value_name = props.get("VALUE_FORMAT") or fmt
    key_name = props.get("KEY_FORMAT") or fmt
    if value_name is None:
        value_name = inherited.value_format.name if inherited else config.get("ksql.persistence.default.format.value")
    if value_name is None:
        raise KsqlStatementException(
            "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either provide "
            "one or set a default via the 'ksql.persistence.default.format.value' config.")
    if key_name is None:
        key_name = _inherited_key_format(inherited) or config.get("ksql.persistence.default.format.key", "KAFKA")
    value_name, key_name = _check_format(str(value_name)), _check_format(str(key_name))
    if not has_key_columns:
        key_name = "NONE"
    for option, fmt in (("VALUE_DELIMITER", value_name), ("KEY_DELIMITER", key_name)):
        if option in props and fmt != "DELIMITED":
            raise KsqlStatementException(f"{fmt} does not support the following configs: [delimiter]")
    key_delim = _delimiter(props.get("KEY_DELIMITER", inherited.key_format.delimiter if inherited and "KEY_FORMAT" not in props else ","))
    value_delim = _delimiter(props.get("VALUE_DELIMITER", inherited.value_format.delimiter if inherited and "VALUE_FORMAT" not in props else ","))
    wrap = props.get("WRAP_SINGLE_VALUE")
    if wrap is None and value_columns == 1:
        wrap = _wrap_default(config, inherited)
    return (FormatInfo(key_name, wrap_single_value=False, delimiter=key_delim),
            FormatInfo(value_name, wrap_single_value=_as_bool(wrap), delimiter=value_delim))


def _inherited_key_format(inherited: Optional[DataSource]) -> Optional[str]:
    """A C*AS inherits its source's key format; a keyless source keeps the one it declared."""
    if inherited is None:
        return None
    if inherited.key_format.name != "NONE":
        return inherited.key_format.name
    declared = inherited.properties.get("KEY_FORMAT") or inherited.properties.get("FORMAT")
    return str(declared) if declared else None


def _wrap_default(config: Config, inherited: Optional[DataSource]) -> Optional[bool]:
    configured = config.get("ksql.persistence.wrap.single.values")
    if configured is not None:
        return _as_bool(configured)
    return None


def _as_bool(value: Any) -> Optional[bool]:
    if value is None or isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def _check_format(name: str) -> str:
    upper = name.upper()
    if upper not in KNOWN_FORMATS:
        raise KsqlStatementException(f"Unknown format: {name}")
    return upper


def _delimiter(value: Any) -> str:
    text = str(value)
    if text.upper() in _DELIMITER_NAMES:
        return _DELIMITER_NAMES[text.upper()]
    if len(text) != 1:
        raise KsqlStatementException(
            f"Invalid delimiter value: '{text}'. Delimiter must be a single character or TAB or SPACE.")
    return text


def window_info(props: dict[str, Any]) -> Optional[WindowInfo]:
    """WINDOW_TYPE / WINDOW_SIZE of a CREATE over a topic with windowed keys."""
    kind = props.get("WINDOW_TYPE")
    if kind is None:
        return None
    kind = str(kind).upper()
    if kind not in ("TUMBLING", "HOPPING", "SESSION"):
        raise KsqlStatementException(f"Invalid WINDOW_TYPE: {kind}")
    size = props.get("WINDOW_SIZE")
    if kind != "SESSION" and size is None:
        raise KsqlStatementException(f"{kind} windows require 'WINDOW_SIZE' to be provided in the WITH clause. "
                                     "For example: 'WINDOW_SIZE'='10 SECONDS'")
    return WindowInfo(kind, parse_duration_text(str(size)) if size is not None else None)


def parse_duration_text(text: str) -> int:
    """'10 SECONDS' -> 10000."""
    parts = text.strip().split()
    if len(parts) != 2:
        raise KsqlStatementException(f"Invalid duration: '{text}'")
    unit = parts[1].upper().rstrip("S")
    factor = {"MILLISECOND": 1, "SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
    if unit not in factor:
        raise KsqlStatementException(f"Invalid duration unit: '{parts[1]}'")
    return int(parts[0]) * factor[unit]


def check_timestamp_column(schema: LogicalSchema, props: dict[str, Any]) -> tuple[Optional[str], Optional[str]]:
    column = props.get("TIMESTAMP")
    fmt = props.get("TIMESTAMP_FORMAT")
    if column is None:
        return None, None
    name = str(column)
    name = name[1:-1] if name.startswith("`") and name.endswith("`") else name.upper()
    found = schema.find(name)
    if found is None:
        raise KsqlStatementException(
            f"The TIMESTAMP column set in the WITH clause does not exist in the schema: '{name}'")
    if fmt is None and found.type.base not in ("BIGINT", "TIMESTAMP"):
        raise KsqlStatementException(
            f"Timestamp column, `{name}`, should be LONG(INT64), TIMESTAMP, or a String with a "
            "timestamp_format specified.")
    if fmt is not None and found.type.base != "STRING":
        raise KsqlStatementException(
            f"Timestamp column, `{name}`, should be a String when a timestamp_format is specified.")
    return name, fmt
