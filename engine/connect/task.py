"""A connector's task in the engine's scheduler, beside the query tasks.

The scheduler calls `step()` as it does a query task's; the task asks its connector to move
what is ready (a source: generate or read and append; a sink: poll, write, commit) and never
blocks waiting for time to pass. An exception fails this task only (state FAILED with the
error's trace, as Kafka Connect reports it); the engine and the other tasks run on.
"""
from __future__ import annotations

import logging
import threading
import traceback
from typing import Optional, Protocol

from pyksqlite.connect.api import FAILED, RUNNING

logger = logging.getLogger("ksqlite.connect")


class Runner(Protocol):
    """One connector implementation's task. `poll` moves what is ready now and returns how many
    records it moved; `pending` is True while a bounded source still has records to make."""

    def poll(self) -> int: ...
    def pending(self) -> bool: ...
    def positions(self) -> dict[tuple[str, int], int]: ...
    def topics(self) -> list[str]: ...
    def close(self) -> None: ...


def task_key(connector: str, task: int) -> str:
    """The scheduler's key for a connector's task (no query id can look like it)."""
    return f"__connector__{connector}__{task}"


class ConnectorTask:
    def __init__(self, connector: str, task_id: int, runner: Runner):
        self.connector, self.task_id, self.runner = connector, task_id, runner
        self.query_id = task_key(connector, task_id)
        self.state = RUNNING
        self.trace: Optional[str] = None
        self.records = 0
        self._lock = threading.Lock()

    def step(self) -> int:
        if self.state != RUNNING or not self._lock.acquire(blocking=False):
            return 0
        try:
            moved = self.runner.poll()
            self.records += moved
            return moved
        except Exception as error:  # noqa: BLE001 - this connector fails; the engine runs on
            logger.exception("connector %s task %d failed", self.connector, self.task_id)
            self.fail(error)
            return 0
        finally:
            self._lock.release()

    def fail(self, error: BaseException) -> None:
        self.state = FAILED
        self.trace = "".join(traceback.format_exception_only(type(error), error)).strip()

    def pending(self) -> bool:
        return self.state == RUNNING and self.runner.pending()

    def processed_positions(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return self.runner.positions()

    def close(self) -> None:
        with self._lock:
            try:
                self.runner.close()
            except Exception:  # noqa: BLE001 - closing a failed connection must not stop DROP
                logger.warning("connector %s task %d did not close cleanly", self.connector,
                               self.task_id, exc_info=True)
