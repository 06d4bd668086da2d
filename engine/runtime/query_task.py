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
and if even that fails, only this query goes to ERROR. The outputs of the records replayed up to
the offsets the query had committed are held back (they are in the log already).

Exactly-once (`processing.guarantee=exactly_once_v2`, a task given a `transaction`): the outputs
of every batch are staged in the task's transaction (see `pyksqlite.log.embedded.transactions`), and every
`commit_interval` seconds (`commit.interval.ms`, 100 as in Kafka Streams under exactly-once), when
idle, or when much is staged, the task commits: it writes its checkpoint beside the installed one,
then commits the transaction, which makes the outputs, the consumed offsets and the checkpoint's
identity visible together, then installs the checkpoint. A crash at any point leaves the last
committed transaction's outputs, offsets and checkpoint, and nothing of the others: the records
after those offsets are processed again from that state, and their outputs appear once. A query
that fails drops its open transaction; a full disk pauses it with the transaction kept, and the
commit is retried.

The `Scheduler` steps every task: `run_until_idle` until no task makes progress (tests, headless
runs), or in a background thread (`start`).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from pyksqlite.common import crash_points
from pyksqlite.log.api import Consumer, LogError, is_disk_full
from pyksqlite.runtime.partition_group import PartitionGroup
from pyksqlite.planner.physical import PhysicalPlan
from pyksqlite.state.query_checkpoint import QueryCheckpoint, replay_from_start
from pyksqlite.runtime.wakeup import AppendSignal

logger = logging.getLogger("ksqlite.runtime")

RUNNING, PAUSED, ERROR, TERMINATED = "RUNNING", "PAUSED", "ERROR", "TERMINATED"
DISK_FULL_RETRY_SECONDS = 0.5
MAX_STAGED_BYTES = 64 * 1024 * 1024   # a transaction holding more commits before its interval


class QueryTask:
    def __init__(self, query_id: str, plan: PhysicalPlan, consumer: Consumer, max_batch: int = 100_000,
                 state_dir: Optional[Path] = None, checkpoint_interval: float = 1.0,
                 build_plan: Optional[Callable[[], PhysicalPlan]] = None,
                 report: Optional[Callable[[str], None]] = None,
                 topics: tuple[str, ...] = (), max_task_idle_ms: int = 0, transaction=None):
        """`build_plan` makes a fresh plan (to rebuild state a checkpoint could not restore);
        `report(message)` says what happened to the state (default: the log); `topics` rank the
        input topics for ties in the processing order (see `PartitionGroup`); `transaction`:
        exactly-once (the log's transactional writer for this task), committed every
        `checkpoint_interval` seconds."""
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
        self._transaction = transaction
        # Under exactly-once, what readers can see processed: the last commit's positions.
        self._committed_positions: Optional[dict[tuple[str, int], int]] = None
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
            if self._transaction is not None and self._committed_positions is None:
                self._committed_positions = self.group.positions()
            held_back = self.group.holding_back
            runs, fetched = self.group.poll(self.max_batch)
            processed = sum(rows.num_rows for _, rows in runs)
            self.records_processed += processed
            if runs:
                self._process(runs, held_back)
            if fetched and self._transaction is not None:
                self._dirty = True   # positions moved, maybe past records that had no output
            if held_back:   # never commit positions short of the offsets committed before
                if self.group.release_if_reached():
                    self._dirty = True
                    self._commit()   # the rebuilt state, at those offsets
                return processed + fetched
            if not runs:
                return max(fetched, self._commit()) if self._dirty else fetched
            if self._checkpoint_file is None and self._transaction is None:
                self.consumer.commit(self.group.positions())
                if crash_points.ARMED:
                    crash_points.reach("offsets.committed")
            else:
                self._dirty = True
                if self._commit_due():
                    self._commit()
            return processed + fetched
        except Exception as error:  # one query's failure must not stop the others
            if is_disk_full(error):
                self._pause_for_disk_full(error, sum(rows.num_rows for _, rows in runs or ()))
                return 0
            logger.exception("query %s failed", self.query_id)
            self.state, self.error = ERROR, f"{type(error).__name__}: {error}"
            if self._transaction is not None:
                self._transaction.abort()
            return 0
        finally:
            self._lock.release()

    def _process(self, runs, held_back: bool) -> None:
        """Run the rows through the plan; under exactly-once its outputs go into the transaction;
        the outputs of rows replayed while holding back are dropped (in the log already)."""
        transaction = self._transaction
        if transaction is None and not held_back:
            self.plan.process_runs(runs)
        elif transaction is None:
            self._process_dropping_outputs(runs)
        else:
            with transaction.log.transactional(transaction):
                self.plan.process_runs(runs)
            if held_back:
                transaction.abort()
        if crash_points.ARMED:
            crash_points.reach("task.processed")

    def _process_dropping_outputs(self, runs) -> None:
        sinks = [op for op in self.plan.all_operators() if hasattr(op, "drop_outputs")]
        for sink in sinks:
            sink.drop_outputs = True
        try:
            self.plan.process_runs(runs)
        finally:
            for sink in sinks:
                sink.drop_outputs = False

    def _commit_due(self) -> bool:
        if self._transaction is not None and self._transaction.pending_bytes >= MAX_STAGED_BYTES:
            return True
        return time.monotonic() - self._last_checkpoint >= self._checkpoint_interval

    def _commit(self) -> int:
        """Checkpoint (at-least-once) or commit the transaction (exactly-once); 1 if records
        became visible (readers may want waking), else 0."""
        if self._transaction is None:
            self._checkpoint()
            return 0
        return self._commit_transaction()

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
            if self._checkpoint_file is None and self._transaction is None:
                self.consumer.commit(self.group.positions())
            else:
                self._commit()
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
        """Per input partition, the offset of the next record whose outputs are not in the log
        yet (under exactly-once: not committed yet)."""
        with self._lock:
            if self._transaction is not None and self._committed_positions is not None:
                return dict(self._committed_positions)
            return self.group.positions()

    def _checkpoint(self) -> None:
        positions = self.group.positions()
        self._checkpoint_file.save(self.plan.all_operators(), positions, self.group.partition_times())
        if crash_points.ARMED:
            crash_points.reach("checkpoint.installed")
        self.consumer.commit(positions)
        if crash_points.ARMED:
            crash_points.reach("offsets.committed")
        self._last_checkpoint = time.monotonic()
        self._dirty = False

    def _commit_transaction(self) -> int:
        """The checkpoint (written beside the installed one), then the transaction with the
        outputs, the offsets and the checkpoint's identity, then the checkpoint installed."""
        positions = self.group.positions()
        if positions == self._committed_positions and not self._transaction.open:
            self._dirty = False
            return 0   # nothing new to make visible
        metadata = None
        if self._checkpoint_file is not None:
            identity = self._checkpoint_file.prepare(self.plan.all_operators(), positions,
                                                     self.group.partition_times())
            metadata = {"checkpoint": identity}
            if crash_points.ARMED:
                crash_points.reach("checkpoint.written")
        published = self._transaction.pending_records
        self._transaction.commit(positions, self.consumer, metadata)
        self._committed_positions = positions
        self._last_checkpoint = time.monotonic()
        self._dirty = False
        if self._checkpoint_file is not None:
            self._install_checkpoint()
        return 1 if published else 0

    def _install_checkpoint(self) -> None:
        try:
            self._checkpoint_file.install()
        except OSError as error:   # committed: a restart installs it from beside the old one
            logger.warning("query %s: cannot install its checkpoint: %s", self.query_id, error)
        if crash_points.ARMED:
            crash_points.reach("checkpoint.installed")

    def _restore(self) -> None:
        """Restore the checkpoint, or rebuild the state it should have held; never raises."""
        try:
            expected = None
            if self._transaction is not None and self._transaction.committed_metadata:
                expected = self._transaction.committed_metadata.get("checkpoint")
            problem = self._checkpoint_file.restore(self.plan.all_operators(), self.consumer, self.group.seek,
                                                    expected)
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
        committed = self.consumer.committed()
        truncated = replay_from_start(self.consumer)
        assigned = set(self.consumer.assignment())
        self.group.hold_back_until({tp: offset for tp, offset in committed.items() if tp in assigned})
        message = (f"query {self.query_id}: {problem}: rebuilding its state by replaying its inputs "
                   f"from the start of the log (the outputs of the records before its committed "
                   f"offsets are in the log already and are not written again)")
        if truncated is not None:
            message += f"; {truncated}"
            self.warning = message
        self._report(message)

    def close(self) -> None:
        with self._lock:
            try:
                if self._dirty and self.state == RUNNING and not self.group.holding_back:
                    self._commit()
            finally:
                if self._transaction is not None:
                    self._transaction.close()
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
