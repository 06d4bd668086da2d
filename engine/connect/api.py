"""What every connector worker offers (Kafka Connect's REST resources), and its errors.

`EmbeddedWorker` (worker.py) runs connectors in the engine; `RemoteConnectClient` (remote.py) asks
a Kafka Connect worker. Both return Kafka Connect's REST shapes as dicts, so the statements
(pyksqlite.facade.connectors) do not care which one runs a connector:

    info:   {"name", "config": {str: str}, "tasks": [{"connector", "task"}], "type": "source"|"sink"}
    status: {"name", "connector": {"state", "worker_id", "trace"?},
             "tasks": [{"id", "state", "worker_id", "trace"?}], "type"}
    plugin: {"class", "type", "version"}
"""
from __future__ import annotations

from typing import Any, Protocol

from pyksqlite.common.errors import KsqlException

SOURCE, SINK = "source", "sink"
RUNNING, FAILED, UNASSIGNED, PAUSED = "RUNNING", "FAILED", "UNASSIGNED", "PAUSED"


class ConnectError(KsqlException):
    """A request the worker refused, with Kafka Connect's HTTP status and message
    (404: no such connector, 409: it exists, 400: a bad config, 500: the worker failed)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status

    def body(self) -> str:
        """The error as Kafka Connect's REST API writes it (what ksqlDB quotes)."""
        import orjson
        return orjson.dumps({"error_code": self.status, "message": self.message}).decode()


class ConnectClient(Protocol):
    def create(self, name: str, config: dict[str, str]) -> dict[str, Any]: ...
    def delete(self, name: str) -> None: ...
    def connectors(self) -> list[str]: ...
    def info(self, name: str) -> dict[str, Any]: ...
    def status(self, name: str) -> dict[str, Any]: ...
    def topics(self, name: str) -> list[str]: ...
    def plugins(self) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...
