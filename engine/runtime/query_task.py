"""Running queries: a task per query that polls its consumer and pushes batches through its plan.

A `QueryTask` takes a batch of records from its input partitions in Kafka Streams' processing
order (`pyksqlite.runtime.partition_group`: lowest timestamp first across partitions, offsets in order within
one), runs it through the physical plan (whose sink appends to the log or hands rows to a client),
then commits the offsets of the records processed: outputs are written before offsets are
committed, so a crash replays rather than loses (at-least-once).
A failure inside one query stops that query (state ERROR) and never the others. A full disk
does not: the query pauses (state PAUSED) with the output its sink could not append held back
(the log's appends are all-or-nothing), retries every `DISK_FULL_RETRY_SECONDS`, and once the
held-back output is written and the offsets committed, it runs on: nothing lost, nothing twice.

Stateful queries checkpoint: every `checkpoint_interval` seconds the task writes, atomically, the
snapshots of its operators together with the consumer positions they correspond to, and only
then commits those offsets. On start it restores the snapshots and seeks to their positions, so
state and input stay consistent after a crash (outputs since the checkpoint are replayed:
at-least-once, with the same final table). A checkpoint that is corrupt, or missing although the
query committed offsets, is never a silent start from empty state: the task rebuilds its state
from a fresh plan, replaying its inputs from the start of the log (`pyksqlite.state.query_checkpoint`);
and if even that fails, only this query goes to ERROR.

The `Scheduler` steps every task: `run_until_idle` until no task makes progress (tests, headless
runs), or in a background thread (`start`).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from pyksqlite.log.api import Consumer, LogError, is_disk_full
from pyksqlite.runtime.partition_group import PartitionGroup
from pyksqlite.planner.physical import PhysicalPlan
from pyksqlite.state.query_checkpoint import QueryCheckpoint, replay_from_start
from pyksqlite.runtime.wakeup import AppendSignal

logger = logging.getLogger("ksqlite.runtime")

RUNNING, PAUSED, ERROR, TERMINATED = "RUNNING", "PAUSED", "ERROR", "TERMINATED"
DISK_FULL_RETRY_SECONDS = 0.5


class QueryTask:
    def __init__(self, query_id: str, plan: PhysicalPlan, consumer: Consumer, max_batch: int = 100_000,
                 state_dir: Optional[Path] = None, checkpoint_interval: float = 1.0,
                 build_plan: Optional[Callable[[], PhysicalPlan]] = None,
                 report: Optional[Callable[[str], None]] = None,
                 topics: tuple[str, ...] = (), max_task_idle_ms: int = 0):
        """`build_plan` makes a fresh plan (to rebuild state a checkpoint could not restore);
        `report(message)` says what happened to the state (default: the log); `topics` rank the
        input topics for ties in the processing order (see `PartitionGroup`)."""
        self.query_id = query_id
        self.plan = plan
        self.consumer = consumer
        self.group = PartitionGroup(consumer, topics, max_task_idle_ms, prepare=plan.prepare)
        self.max_batch = max_batch
        self.state = RUNNING
        self.error: Optional[str] = None
        self.warning: Optional[str] = None     # e.g. state rebuilt from inputs that retention cut
        self.records_processed = 0
        self._lock = threading.Lock()
        self._stateful = any(op.snapshot() is not None for op in plan.all_operators())
        self._checkpoint_file = QueryCheckpoint(state_dir) if (state_dir and self._stateful) else None
        self._checkpoint_interval = checkpoint_interval
        self._last_checkpoint = time.monotonic()
        self._dirty = False
        self._disk_full_retry_at: Optional[float] = None  # set while paused for a full disk
        self._held_back_records = 0
        self._build_plan = build_plan
        self._report = report or logger.warning
        if self._checkpoint_file is not None:
            self._restore()

    def step(self) -> int:
        """Process one batch; the number of records consumed (0: nothing to do)."""
        if self.state == PAUSED and self._disk_full_retry_at is not None:
            return self._retry_after_disk_full()
        if self.state != RUNNING or not self._lock.acquire(blocking=False):
            return 0
        runs = None
        try:
            runs, fetched = self.group.poll(self.max_batch)
            if not runs:
                if self._dirty:
                    self._checkpoint()
                return fetched
            self.plan.process_runs(runs)
            processed = sum(rows.num_rows for _, rows in runs)
            self.records_processed += processed
            if self._checkpoint_file is None:
                self.consumer.commit(self.group.positions())
            else:
                self._dirty = True
                if time.monotonic() - self._last_checkpoint >= self._checkpoint_interval:
                    self._checkpoint()
            return processed + fetched
        except Exception as error:  # one query's failure must not stop the others
            if is_disk_full(error):
                self._pause_for_disk_full(error, sum(rows.num_rows for _, rows in runs or ()))
                return 0
            logger.exception("query %s failed", self.query_id)
            self.state, self.error = ERROR, f"{type(error).__name__}: {error}"
            return 0
        finally:
            self._lock.release()

    def _pause_for_disk_full(self, error: Exception, records: int) -> None:
        logger.warning("query %s paused until there is disk space again: %s", self.query_id, error)
        self.state, self.error = PAUSED, f"paused, the disk is full: {error}"
        self._held_back_records = records
        self._disk_full_retry_at = time.monotonic() + DISK_FULL_RETRY_SECONDS

    def _retry_after_disk_full(self) -> int:
        """Write the output held back and commit what it came from; then run on."""
        if time.monotonic() < self._disk_full_retry_at or not self._lock.acquire(blocking=False):
            return 0
        try:
            for operator in self.plan.all_operators():
                retry = getattr(operator, "retry_unwritten", None)
                if retry is not None:
                    retry()
            if self._checkpoint_file is None:
                self.consumer.commit(self.group.positions())
            else:
                self._checkpoint()
        except Exception as error:  # noqa: BLE001 - still full: wait again; anything else: ERROR
            if is_disk_full(error):
                self._disk_full_retry_at = time.monotonic() + DISK_FULL_RETRY_SECONDS
                return 0
            logger.exception("query %s failed", self.query_id)
            self.state, self.error, self._disk_full_retry_at = ERROR, f"{type(error).__name__}: {error}", None
            return 0
        finally:
            self._lock.release()
        logger.warning("query %s resumed: there is disk space again", self.query_id)
        self.state, self.error, self._disk_full_retry_at = RUNNING, None, None
        return max(1, self._held_back_records)

    def processed_positions(self) -> dict[tuple[str, int], int]:
        """Per input partition, the offset of the next record to process."""
        with self._lock:
            return self.group.positions()

    def _checkpoint(self) -> None:
        positions = self.group.positions()
        self._checkpoint_file.save(self.plan.all_operators(), positions, self.group.partition_times())
        self.consumer.commit(positions)
        self._last_checkpoint = time.monotonic()
        self._dirty = False

    def _restore(self) -> None:
        """Restore the checkpoint, or rebuild the state it should have held; never raises."""
        try:
            problem = self._checkpoint_file.restore(self.plan.all_operators(), self.consumer, self.group.seek)
            if problem is not None:
                self._rebuild(problem)
        except LogError as error:  # e.g. a committed position past the end: this query only
            logger.error("query %s cannot start: %s", self.query_id, error)
            self.state, self.error = ERROR, f"{type(error).__name__}: {error}"
        except Exception as error:  # noqa: BLE001 - this query cannot start; the others must
            logger.exception("query %s cannot restore its state", self.query_id)
            self.state = ERROR
            self.error = (f"{type(error).__name__} while restoring the state of query {self.query_id} "
                          f"from {self._checkpoint_file.path}: {error}")

    def _rebuild(self, problem: str) -> None:
        """Start from a fresh plan and the start of the inputs."""
        if self._build_plan is None:
            raise RuntimeError(f"{problem}; this task cannot rebuild its state")
        self.plan = self._build_plan()
        self.group.prepare = self.plan.prepare
        truncated = replay_from_start(self.consumer)
        message = (f"query {self.query_id}: {problem}: rebuilding its state by replaying its inputs "
                   f"from the start of the log")
        if truncated is not None:
            message += f"; {truncated}"
            self.warning = message
        self._report(message)

    def close(self) -> None:
        with self._lock:
            if self._dirty and self.state == RUNNING:
                self._checkpoint()
            self.state = TERMINATED if self.state != ERROR else self.state
            self.consumer.close()


class Scheduler:
    def __init__(self, idle_sleep: float = 0.005):
        self.tasks: dict[str, QueryTask] = {}
        self.idle_sleep = idle_sleep
        # Appends (INSERT VALUES, query outputs) wake idle tasks and push queries at once.
        self.appended = AppendSignal()
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
        """Step every task until none makes progress and none is a bounded source still due to
        write (a connector with records left, `pending()`); False if the timeout ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self.step_all():
                if not self._sources_pending():
                    return True
                time.sleep(self.idle_sleep)
            if deadline is not None and time.monotonic() > deadline:
                return False

    def _sources_pending(self) -> bool:
        with self._lock:
            tasks = list(self.tasks.values())
        return any(getattr(task, "pending", None) is not None and task.pending() for task in tasks)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ksqlite-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            seen = self.appended.generation
            if self.step_all():
                self.appended.notify()  # outputs were appended: a push query may read them
            else:
                self.appended.wait(seen, self.idle_sleep)

    def stop(self) -> None:
        self._stop.set()
        self.appended.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def close(self) -> None:
        self.stop()
        with self._lock:
            tasks, self.tasks = list(self.tasks.values()), {}
        for task in tasks:
            task.close()
