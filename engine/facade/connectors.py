"""The connector statements, as ksqlDB's executors run them, returning ksqlDB's REST entities:
CREATE ... CONNECTOR -> `connector_info`, DROP CONNECTOR -> `drop_connector`, SHOW CONNECTORS ->
`connector_list`, DESCRIBE CONNECTOR -> `connector_description`, SHOW CONNECTOR PLUGINS ->
`connector_plugins_list`; IF [NOT] EXISTS that finds nothing to do -> `warning_entity`.

They go to the engine's connect client: the embedded worker, or the Kafka Connect worker at
`ksql.connect.url` (ksqlDB's external mode). Embedded connectors are catalog entries: their
CREATE and DROP go to the command topic, so a restart starts them again (a Kafka Connect
worker keeps its own connectors, as with ksqlDB).
"""
from __future__ import annotations

import re
from typing import Any, Optional

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.connect.api import ConnectClient, ConnectError
from pyksqlite.facade import metadata
from pyksqlite.grammar.ast.connectors import (CreateConnector, DescribeConnector, DropConnector,
                                                   ListConnectorPlugins, ListConnectors)

_SECRET = re.compile(r"password|secret|credential|token|\.key$", re.IGNORECASE)
_MASK = "'*********'"


def handle(engine, statement, record_command) -> dict[str, Any]:
    """Run one connector statement; `record_command(text)` keeps a change in the command topic."""
    handler = _HANDLERS[type(statement)]
    return handler(engine, engine.connect, statement, record_command)


def replay(engine, statement) -> None:
    """A connector statement read back from the command topic: its connector starts again even
    if its config stopped working (it is then FAILED, with the reason)."""
    client = engine.connect
    if isinstance(statement, CreateConnector) and hasattr(client, "create"):
        try:
            client.create(statement.name, statement.config_map(), strict=False)
        except ConnectError:      # it exists already (replayed twice)
            pass
    elif isinstance(statement, DropConnector):
        try:
            client.delete(statement.name)
        except ConnectError:
            pass


def masked(text: str) -> str:
    """The statement with the values of secret-looking config keys masked (ksqlDB's QueryMask)."""
    pattern = re.compile(r"""((["'`])([^"'`]*)\2\s*=\s*)'(?:[^']|'')*'""")
    return pattern.sub(lambda m: m.group(1) + _MASK if _SECRET.search(m.group(3)) else m.group(0), text)


def _masked_config(config: dict[str, str]) -> dict[str, str]:
    return {k: ("*********" if _SECRET.search(k) else v) for k, v in config.items()}


def _create(engine, client: ConnectClient, stmt: CreateConnector, record_command) -> dict[str, Any]:
    text = masked(stmt.text)
    exists = _exists(client, stmt.name)
    if exists and stmt.if_not_exists:
        return _warning(text, f"Connector {stmt.name} already exists")
    if exists:
        raise KsqlStatementException(f"Connector {stmt.name} already exists", text)
    config = stmt.config_map()
    _check_type(stmt, config)
    try:
        info = client.create(stmt.name, config)
    except ConnectError as error:
        raise KsqlStatementException(f"Failed to create connector: {error.body()}", text) from None
    if _embedded(client):
        record_command(stmt.text)
    return {"@type": "connector_info", "statementText": text, "warnings": [],
            "info": {**info, "config": _masked_config(info.get("config") or {})}}


def _check_type(stmt: CreateConnector, config: dict[str, str]) -> None:
    """CREATE SOURCE names a source class, CREATE SINK a sink class (embedded classes only:
    what else a Kafka Connect worker has, it knows)."""
    from pyksqlite.connect.plugins import PLUGINS
    wanted = (config.get("connector.class") or "").strip()
    for plugin in PLUGINS:
        simple = plugin.class_name.rsplit(".", 1)[-1]
        if wanted in (plugin.class_name, simple, simple.removesuffix("Connector")) \
                and plugin.type != stmt.connector_type.lower():
            raise KsqlStatementException(
                f"{plugin.class_name} is a {plugin.type} connector: use CREATE {plugin.type.upper()} "
                "CONNECTOR.", masked(stmt.text))


def _drop(engine, client: ConnectClient, stmt: DropConnector, record_command) -> dict[str, Any]:
    text = masked(stmt.text)
    try:
        client.delete(stmt.name)
    except ConnectError as error:
        if error.status == 404 and stmt.if_exists:
            return _warning(text, _missing_message(stmt.name))
        raise KsqlStatementException(f"Failed to drop connector: {error.body()}", text) from None
    if _embedded(client):
        record_command(stmt.text)
    return {"@type": "drop_connector", "statementText": text, "connectorName": stmt.name, "warnings": []}


def _list(engine, client: ConnectClient, stmt: ListConnectors, record_command) -> dict[str, Any]:
    connectors, warnings = [], []
    for name in _call(client.connectors, "Failed to list connectors"):
        try:
            info = client.info(name)
            status = client.status(name)
        except ConnectError as error:
            warnings.append({"message": f"Could not describe connector {name}: {error.body()}"})
            if stmt.scope is None:
                connectors.append({"name": name, "type": "unknown"})
            continue
        if stmt.scope is not None and info.get("type") != stmt.scope.lower():
            continue
        connectors.append({"name": name, "type": info.get("type"),
                           "className": (info.get("config") or {}).get("connector.class"),
                           "state": summarize_state(status)})
    return {"@type": "connector_list", "statementText": stmt.text, "warnings": warnings,
            "connectors": connectors}


def summarize_state(status: dict[str, Any]) -> str:
    """ksqlDB's one-word state of a connector: its own state unless RUNNING, else
    `RUNNING (n/m tasks RUNNING)` (`WARNING` when no task runs)."""
    state = (status.get("connector") or {}).get("state", "UNASSIGNED")
    if state != "RUNNING":
        return state
    tasks = status.get("tasks") or []
    running = sum(1 for task in tasks if task.get("state") == "RUNNING")
    word = "WARNING" if tasks and running == 0 else "RUNNING"
    return f"{word} ({running}/{len(tasks)} tasks RUNNING)"


def _describe(engine, client: ConnectClient, stmt: DescribeConnector, record_command) -> dict[str, Any]:
    status = _call(lambda: client.status(stmt.name), "Failed to query connector status")
    info = _call(lambda: client.info(stmt.name), "Failed to describe connector")
    warnings, topics = [], []
    try:
        topics = client.topics(stmt.name)
    except ConnectError as error:
        if error.status != 404:
            warnings.append({"message": f"Could not list related topics due to error: {error.body()}"})
    sources = [metadata.describe_source(engine, source.name)
               for source in engine.catalog.sources.values() if source.topic in topics]
    return {"@type": "connector_description", "statementText": stmt.text, "warnings": warnings,
            "connectorClass": (info.get("config") or {}).get("connector.class"),
            "status": status, "sources": sources, "topics": topics}


def _plugins(engine, client: ConnectClient, stmt: ListConnectorPlugins, record_command) -> dict[str, Any]:
    plugins = _call(client.plugins, "Failed to list connector plugins")
    return {"@type": "connector_plugins_list", "statementText": stmt.text, "warnings": [],
            "connectorsPlugins": [{"className": p.get("class"), "type": p.get("type"),
                                   "version": p.get("version")} for p in plugins]}


def _exists(client: ConnectClient, name: str) -> bool:
    names = _call(client.connectors, "Failed to check for existing connector")
    return any(existing.lower() == name.lower() for existing in names)


def _call(function, what: str):
    try:
        return function()
    except ConnectError as error:
        raise KsqlStatementException(f"{what}: {error.body()}") from None


def _missing_message(name: str) -> str:
    return f"Connector '{name}' does not exist."


def _warning(text: str, message: str) -> dict[str, Any]:
    return {"@type": "warning_entity", "statementText": text, "message": message, "warnings": []}


def _embedded(client) -> bool:
    return not getattr(client, "remote", False)


_HANDLERS = {CreateConnector: _create, DropConnector: _drop, ListConnectors: _list,
             DescribeConnector: _describe, ListConnectorPlugins: _plugins}


def connect_client(engine) -> ConnectClient:
    """The Kafka Connect worker at `ksql.connect.url`, else the embedded worker."""
    from pyksqlite.catalog.ddl import Config
    url: Optional[str] = Config(engine.properties).get("ksql.connect.url")
    if url and str(url).strip():
        from pyksqlite.connect.remote import RemoteConnectClient
        return RemoteConnectClient(str(url).strip(), engine.properties)
    from pyksqlite.connect.context import WorkerContext
    from pyksqlite.connect.worker import EmbeddedWorker
    context = WorkerContext(
        engine.log, engine.catalog, Config(engine.properties), engine.schema_registry,
        getattr(engine._executor, "schema_registry_token", None), engine.scheduler.appended.notify,
        lambda connector, message: engine._processing_log.record(None, "CONNECTOR", f"{connector}: {message}"))
    return EmbeddedWorker(context, engine.scheduler)
