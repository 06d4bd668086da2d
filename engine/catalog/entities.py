"""ksqlDB REST entities (the dicts with "@type") that statements return: one place builds them,
so the server, the REPL and the runners all see the same shapes."""
from __future__ import annotations

from typing import Any, Optional

from pyksqlite.catalog.metastore import DataSource, PersistentQuery
from pyksqlite.common.schema import HEADER, HEADERS, KEY, Column
from pyksqlite.common.types import SqlType


def current_status(text: str, command_id: str, message: str, sequence: int,
                   query_id: Optional[str] = None, status: str = "SUCCESS") -> dict[str, Any]:
    command_status: dict[str, Any] = {"status": status, "message": message}
    if query_id:
        command_status["queryId"] = query_id
    return {"@type": "currentStatus", "statementText": text, "commandId": command_id,
            "commandStatus": command_status, "commandSequenceNumber": sequence, "warnings": []}


def schema_info(t: SqlType) -> dict[str, Any]:
    """ksqlDB's SchemaInfo of a type: {type, fields, memberSchema}."""
    info: dict[str, Any] = {"type": t.base, "fields": None, "memberSchema": None}
    if t.base == "ARRAY":
        info["memberSchema"] = schema_info(t.element)
    elif t.base == "MAP":
        info["memberSchema"] = schema_info(t.value)
    elif t.base == "STRUCT":
        info["fields"] = [{"name": n, "schema": schema_info(ft)} for n, ft in t.fields]
    elif t.base == "DECIMAL":
        info["parameters"] = {"precision": t.precision, "scale": t.scale}
    return info


def field_info(column: Column) -> dict[str, Any]:
    info: dict[str, Any] = {"name": column.name, "schema": schema_info(column.type)}
    if column.namespace == KEY:
        info["type"] = "KEY"
    elif column.namespace in (HEADER, HEADERS):
        info["type"] = "HEADER"
        if column.header_key is not None:
            info["headerKey"] = column.header_key
    return info


def source_summary(source: DataSource) -> dict[str, Any]:
    return {"type": source.kind, "name": source.name, "topic": source.topic,
            "keyFormat": source.key_format.name, "valueFormat": source.value_format.name,
            "isWindowed": source.window is not None}


def source_description(source: DataSource, read_queries: list[PersistentQuery],
                       write_queries: list[PersistentQuery], partitions: int,
                       extended: bool = False) -> dict[str, Any]:
    fields = [field_info(c) for c in source.schema.columns]
    return {
        "name": source.name,
        "windowType": source.window.kind if source.window else None,
        "readQueries": [query_summary(q) for q in read_queries],
        "writeQueries": [query_summary(q) for q in write_queries],
        "fields": fields,
        "type": source.kind,
        "timestamp": source.timestamp_column or "",
        "statistics": "", "errorStats": "",
        "extended": extended,
        "keyFormat": source.key_format.name,
        "valueFormat": source.value_format.name,
        "topic": source.topic,
        "partitions": partitions,
        "replication": 1,
        "statement": source.statement_text,
        "queryOffsetSummaries": [],
        "sourceConstraints": [],
    }


def query_summary(query: PersistentQuery, state: Optional[str] = None) -> dict[str, Any]:
    """ksqlDB's RunningQuery; `state`: its task's (RUNNING, ERROR...) when known."""
    state = state or query.state
    return {"queryString": query.statement_text, "sinks": [query.sink],
            "sinkKafkaTopics": [], "id": query.query_id, "statusCount": {state: 1},
            "queryType": "PERSISTENT", "state": state}
