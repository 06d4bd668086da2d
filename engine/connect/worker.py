"""The embedded connect worker: ksqlDB's connector statements run in the engine, no JVM.

It answers as a Kafka Connect worker's REST API does (`pyksqlite.connect.api`), so the
statements need not know which worker they talk to. Each connector runs one task in the engine's
scheduler (`pyksqlite.connect.task`). Creating a connector checks its config first (a bad config
is the statement's error and creates nothing); what fails later (a database that is down, a
file that went away) leaves the connector FAILED with the error, the engine running on.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from pyksqlite.connect.api import FAILED, RUNNING, UNASSIGNED, ConnectError
from pyksqlite.connect.context import WorkerContext
from pyksqlite.connect.plugins import PLUGINS, VERSION, Plugin, find_plugin
from pyksqlite.connect.task import ConnectorTask
from pyksqlite.runtime.query_task import Scheduler

WORKER_ID = "ksqlite:embedded"


@dataclass
class _Connector:
    name: str
    config: dict[str, str]
    plugin: Optional[Plugin]
    task: Optional[ConnectorTask] = None
    trace: Optional[str] = None                   # why the connector itself failed
    topics: list[str] = field(default_factory=list)


class EmbeddedWorker:
    def __init__(self, context: WorkerContext, scheduler: Scheduler):
        self.context, self.scheduler = context, scheduler
        self._connectors: dict[str, _Connector] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ Kafka Connect's resources
    def create(self, name: str, config: dict[str, str], strict: bool = True) -> dict[str, Any]:
        """Start a connector. `strict=False` (replaying the command topic) keeps a connector
        whose config no longer works, FAILED with the reason, instead of raising."""
        with self._lock:
            if name in self._connectors:
                raise ConnectError(409, f"Connector {name} already exists")
            _check_name(name)
            config = {**config, "name": name}
            try:
                if "connector.class" not in config:
                    raise ConnectError(400, f"Connector config {_shown(config)} contains no connector type")
                plugin = find_plugin(config["connector.class"])
                runner = plugin.factory(name, config, self.context)
            except ConnectError as error:
                if strict:
                    raise
                self._connectors[name] = _Connector(name, config, None, trace=error.message)
                return self.info(name)
            connector = _Connector(name, config, plugin, ConnectorTask(name, 0, runner),
                                   topics=runner.topics())
            self._connectors[name] = connector
            self.scheduler.add(connector.task)
            return self.info(name)

    def delete(self, name: str) -> None:
        with self._lock:
            connector = self._require(name)
            del self._connectors[name]
        if connector.task is not None:
            self.scheduler.remove(connector.task.query_id)
            if connector.plugin is not None and connector.plugin.type == "source":
                self.context.offsets.forget(name)

    def connectors(self) -> list[str]:
        with self._lock:
            return list(self._connectors)

    def info(self, name: str) -> dict[str, Any]:
        connector = self._require(name)
        return {"name": name, "config": dict(connector.config),
                "tasks": [{"connector": name, "task": 0}] if connector.task else [],
                "type": connector.plugin.type if connector.plugin else "unknown"}

    def status(self, name: str) -> dict[str, Any]:
        connector = self._require(name)
        state = {"state": FAILED if connector.trace else RUNNING, "worker_id": WORKER_ID}
        if connector.trace:
            state["trace"] = connector.trace
        tasks = []
        if connector.task is not None:
            task = {"id": 0, "state": connector.task.state, "worker_id": WORKER_ID}
            if connector.task.trace:
                task["trace"] = connector.task.trace
            tasks.append(task)
        return {"name": name, "connector": state, "tasks": tasks,
                "type": connector.plugin.type if connector.plugin else "unknown"}

    def topics(self, name: str) -> list[str]:
        return list(self._require(name).topics)

    def plugins(self) -> list[dict[str, Any]]:
        return [{"class": p.class_name, "type": p.type, "version": VERSION} for p in PLUGINS]

    def close(self) -> None:
        pass   # the tasks are the scheduler's: closing the engine closes them

    def _require(self, name: str) -> _Connector:
        with self._lock:
            connector = self._connectors.get(name)
        if connector is None:
            raise ConnectError(404, f"Connector {name} not found")
        return connector


def _check_name(name: str) -> None:
    if not name.strip() or any(ord(c) < 32 for c in name) or len(name) > 249:
        raise ConnectError(400, f"Connector name {name!r} is invalid: it must be 1-249 printable characters.")


def _shown(config: dict[str, str]) -> str:
    """The config's keys (values may be secrets)."""
    return "{" + ", ".join(config) + "}"


__all__ = ["EmbeddedWorker", "UNASSIGNED"]
