"""Running queries: a task per query that polls its consumer and pushes batches through its plan.

A `QueryTask` reads a batch of records from the log, runs it through the physical plan (whose
sink appends to the log or hands rows to a client), then commits the consumed offsets: outputs
are written before offsets are committed, so a crash replays rather than loses (at-least-once).
A failure inside one query stops that query (state ERROR) and never the others.

The `Scheduler` steps every task: `run_until_idle` until no task makes progress (tests, headless
runs), or in a background thread (`start`).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from engine.log.api import Consumer
from engine.planner.physical import PhysicalPlan

logger = logging.getLogger("ksqlite.runtime")

RUNNING, PAUSED, ERROR, TERMINATED = "RUNNING", "PAUSED", "ERROR", "TERMINATED"


class QueryTask:
    def __init__(self, query_id: str, plan: PhysicalPlan, consumer: Consumer, max_batch: int = 100_000):
        self.query_id = query_id
        self.plan = plan
        self.consumer = consumer
        self.max_batch = max_batch
        self.state = RUNNING
        self.error: Optional[str] = None
        self.records_processed = 0
        self._lock = threading.Lock()

    def step(self) -> int:
        """Process one batch; the number of records consumed (0: nothing to do)."""
        if self.state != RUNNING or not self._lock.acquire(blocking=False):
            return 0
        try:
            records = self.consumer.poll(self.max_batch)
            if records is None or records.num_rows == 0:
                return 0
            self.plan.process(records)
            self.consumer.commit()
            self.records_processed += records.num_rows
            return records.num_rows
        except Exception as error:  # one query's failure must not stop the others
            logger.exception("query %s failed", self.query_id)
            self.state, self.error = ERROR, f"{type(error).__name__}: {error}"
            return 0
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            self.state = TERMINATED if self.state != ERROR else self.state
            self.consumer.close()


class Scheduler:
    def __init__(self, idle_sleep: float = 0.005):
        self.tasks: dict[str, QueryTask] = {}
        self.idle_sleep = idle_sleep
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._lock = threading.RLock()

    def add(self, task: QueryTask) -> None:
        with self._lock:
            self.tasks[task.query_id] = task

    def remove(self, query_id: str) -> Optional[QueryTask]:
        with self._lock:
            task = self.tasks.pop(query_id, None)
        if task is not None:
            task.close()
        return task

    def step_all(self) -> int:
        with self._lock:
            tasks = list(self.tasks.values())
        return sum(task.step() for task in tasks)

    def run_until_idle(self, timeout: Optional[float] = None) -> bool:
        """Step every task until none makes progress; False if the timeout ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.step_all():
            if deadline is not None and time.monotonic() > deadline:
                return False
        return True

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ksqlite-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.step_all():
                self._stop.wait(self.idle_sleep)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def close(self) -> None:
        self.stop()
        with self._lock:
            tasks, self.tasks = list(self.tasks.values()), {}
        for task in tasks:
            task.close()
