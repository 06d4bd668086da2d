"""Kafka Streams' task model, for queries whose partitions are shared between processes.

When several ksqlite processes run the same query as one consumer group, each owns some of the
input partitions, and a stateful query's state must move with its partitions. A
`PartitionedQueryTask` therefore keeps one physical plan per partition number p: the task of
partition p of every input topic (a join's co-partitioned inputs are assigned together). Each
plan checkpoints its operators' snapshots to partition p of the query's changelog topic, with the
input positions the snapshot covers. A process that is assigned partition p restores the plan
from the newest complete snapshot there and reads the input again from where that snapshot ends.

Commits: at-least-once appends the snapshots, then commits the offsets. With
`processing.guarantee=exactly_once_v2` (a log with transactions: Kafka) the outputs since the
last commit, the snapshots and the offsets commit in one transaction, so a process killed at any
point leaves neither duplicates nor gaps. Before partitions leave (a rebalance) their state is
committed, as Kafka Streams commits on revocation.

Snapshots are whole (the plan's operator state as one `pyksqlite.state.snapshot` container: JSON
and Arrow sections with a CRC, never pickle) rather than one changelog record per key update;
they alternate between two slots of keys, so the compacted topic always keeps one complete
snapshot even if a process dies while writing the other. Every partition a task owns gets a
snapshot at its first checkpoint, so committed offsets without a readable snapshot mean the
snapshot was lost or corrupted: the partition's state is then rebuilt by reading its inputs
from the start of the log (with a warning), never silently started empty.
"""
from __future__ import annotations

import logging
import struct
import threading
import time
from contextlib import nullcontext
from typing import Callable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.log.api import HEADER_TYPE, Consumer, Log, TopicConfig
from pyksqlite.operators.base import PARTITION_COL
from pyksqlite.runtime.partition_group import PartitionGroup
from pyksqlite.planner.physical import PhysicalPlan
from pyksqlite.runtime.query_task import ERROR, RUNNING, TERMINATED
from pyksqlite.state.snapshot import Snapshot, SnapshotError, decode, to_bytes
from pyksqlite.grammar import ast

logger = logging.getLogger("ksqlite.runtime")

TP = tuple[str, int]
CHUNK_BYTES = 900_000          # under Kafka's default max.message.bytes (1 MB)
SEQUENCE = struct.Struct(">q")


class PartitionedQueryTask:
    """A persistent query as one task per input partition, with state in a changelog topic."""

    def __init__(self, query_id: str, build_plan: Callable[[], PhysicalPlan], consumer: Consumer,
                 log: Log, changelog_topic: Optional[str], transaction=None,
                 max_batch: int = 100_000, checkpoint_interval: float = 1.0, partitions: int = 1,
                 topics: tuple[str, ...] = (), max_task_idle_ms: int = 0):
        self.query_id = query_id
        self.consumer = consumer
        self.log = log
        self.max_batch = max_batch
        self.state = RUNNING
        self.error: Optional[str] = None
        self.warning: Optional[str] = None
        self.records_processed = 0
        self.plan = build_plan()                 # EXPLAIN's plan; the one plan when stateless
        self.group = PartitionGroup(consumer, topics, max_task_idle_ms, prepare=self.plan.prepare)
        self._build_plan = build_plan
        self._stateful = any(op.snapshot() is not None for op in self.plan.all_operators())
        self._changelog = changelog_topic if self._stateful else None
        if self._changelog is not None:
            log.create_topic(self._changelog, TopicConfig(partitions=partitions, cleanup_policy="compact"),
                             exist_ok=True)
        self._transaction = transaction
        self._lock = threading.Lock()
        self._plans: dict[int, PhysicalPlan] = {}
        self._sequences: dict[int, int] = {}     # partition -> the last snapshot's sequence number
        self._rewind_all = False                 # a transaction aborted: read again from the commit
        self._changed: set[int] = set()          # partitions processed since the last checkpoint
        self._dirty = False
        self._checkpoint_interval = checkpoint_interval
        self._last_checkpoint = time.monotonic()
        if hasattr(consumer, "on_revoke"):
            consumer.on_revoke = self._before_revoke

    # ------------------------------------------------------------------ processing
    def step(self) -> int:
        """Process one batch; the number of records consumed (0: nothing to do)."""
        if self.state != RUNNING or not self._lock.acquire(blocking=False):
            return 0
        try:
            if self._rewind_all and not self._stateful:
                self._rewind_to_committed()
            fetched = self.group.fetch(self.max_batch)
            owned = self._follow_assignment()    # partitions adopted now are sought: buffers dropped
            runs = self.group.take_ready(self.max_batch)
            if not runs:
                if self._dirty:
                    self._checkpoint()
                return fetched
            with self._transactional():
                self._process(runs, owned)
            processed = sum(rows.num_rows for _, rows in runs)
            self.records_processed += processed
            self._dirty = True
            if time.monotonic() - self._last_checkpoint >= self._checkpoint_interval:
                self._checkpoint()
            return processed + fetched
        except Exception as error:  # one query's failure must not stop the others
            logger.exception("query %s failed", self.query_id)
            self.state, self.error = ERROR, f"{type(error).__name__}: {error}"
            if self._transaction is not None:
                self._transaction.abort()
            return 0
        finally:
            self._lock.release()

    def _process(self, runs: list[tuple[int, pa.Table]], owned: Optional[set[int]]) -> None:
        """Run each partition's rows through its plan, in the group's order (only partitions
        still owned: a rebalance may have moved some since the poll; their new owner reads them)."""
        if not self._stateful:
            self.plan.process_runs(runs)
            return
        by_partition: dict[int, list[tuple[int, pa.Table]]] = {}
        for tag, rows in runs:
            partitions = rows.column(PARTITION_COL)
            present = np.unique(partitions.to_numpy(zero_copy_only=False)).tolist()
            for p in present:
                piece = rows.filter(pc.equal(partitions, p)) if len(present) > 1 else rows
                by_partition.setdefault(p, []).append((tag, piece))
        for p, partition_runs in by_partition.items():
            if p in owned:
                self._plans[p].process_runs(partition_runs)
                self._changed.add(p)

    def _transactional(self):
        scope = getattr(self.log, "transactional", None)
        return scope(self._transaction) if scope is not None and self._transaction else nullcontext()

    # ------------------------------------------------------------------ partitions moving
    def _follow_assignment(self) -> Optional[set[int]]:
        """Adopt the partitions just assigned (before their records are processed), forget the
        ones that left; the partitions owned now (None for a stateless query: all it reads)."""
        if not self._stateful:
            return None
        assigned = self._assignment()
        owned = {p for _, p in assigned}
        if self._rewind_all:
            self._plans.clear()
            self._rewind_all = False
        for p in sorted(owned - self._plans.keys()):
            self._adopt(p, [tp for tp in assigned if tp[1] == p])
        for p in self._plans.keys() - owned:
            self._forget(p)
        return owned

    def _assignment(self) -> list[TP]:
        # Not `assignment()` on Kafka: it polls, and a rebalance served there would commit the
        # positions of the batch just polled before that batch is processed.
        return getattr(self.consumer, "current_assignment", self.consumer.assignment)()

    def _adopt(self, partition: int, topic_partitions: list[TP]) -> None:
        """A fresh plan for the partition with the state of its newest snapshot, and the
        consumer sought back to where that snapshot ends (or to the committed offset)."""
        positions, times = self._restored(partition)
        committed = None
        for tp in topic_partitions:
            offset = positions.get(tp) if positions is not None else None
            if offset is None:
                committed = self.consumer.committed() if committed is None else committed
                offset = committed.get(tp)
                if offset is not None and positions is None and self._stateful:
                    offset = self._rebuild_from_start(tp, "its state snapshot is missing or unreadable")
            if offset is not None:
                self.group.seek(tp[0], tp[1], offset, times.get(tp))

    def _restored(self, partition: int) -> tuple[Optional[dict[TP, int]], dict[TP, int]]:
        """A fresh plan for the partition with its newest snapshot's state; the positions that
        snapshot covers (None without a usable snapshot: the plan then starts empty) and the
        partition times of the record order (see engine.partition_group)."""
        plan = self._plans[partition] = self._build_plan()
        snapshot = self._read_snapshot(partition)
        if snapshot is None:
            return None, {}
        sequence, state = snapshot
        try:
            operators = plan.all_operators()
            states = state.children("operators")
            if len(states) != len(operators):
                raise SnapshotError(f"{len(states)} operator states for {len(operators)} operators")
            for operator, operator_state in zip(operators, states):
                if operator_state is not None:
                    operator.restore(operator_state)
            positions = _positions_from(state.get("positions", list))
            times = _positions_from(state.get("partition_times", list), what="partition time") \
                if "partition_times" in state else {}
        except Exception as error:  # noqa: BLE001 - state from a topic that does not fit the plan
            logger.warning("query %s: the snapshot of partition %d in %s does not fit the query (%s)",
                           self.query_id, partition, self._changelog, error)
            self._plans[partition] = self._build_plan()
            return None, {}
        self._sequences[partition] = sequence
        return positions, times

    def _rebuild_from_start(self, tp: TP, why: str) -> int:
        start = self.log.start_offsets(tp[0])[tp[1]]
        note = "" if start == 0 else (f"; the input no longer reaches back to offset 0 (it starts at "
                                      f"{start}): records deleted by retention are missing from the state")
        logger.warning("query %s: %s for %s-%d although offsets were committed: rebuilding it by replaying "
                       "the input from the start of the log%s", self.query_id, why, tp[0], tp[1], note)
        if note:
            self.warning = f"partition {tp[0]}-{tp[1]} rebuilt{note}"
        return start

    def _before_revoke(self, leaving: set[TP]) -> None:
        """Called by the consumer inside a rebalance: commit what the leaving partitions did."""
        if self._dirty:
            self._checkpoint()
        for p in {p for _, p in leaving}:
            self._forget(p)

    def _forget(self, partition: int) -> None:
        self._plans.pop(partition, None)
        self._sequences.pop(partition, None)
        self._changed.discard(partition)

    def _rewind_to_committed(self) -> None:
        self._rewind_all = False
        committed = self.consumer.committed()
        for tp in self._assignment():
            if tp in committed:
                self.group.seek(tp[0], tp[1], committed[tp])

    # ------------------------------------------------------------------ checkpoints
    def _positions(self) -> dict[TP, int]:
        """The next offset to process per partition (records buffered in the group come after)."""
        return self.group.positions()

    def processed_positions(self) -> dict[TP, int]:
        with self._lock:
            return self._positions()

    def _checkpoint(self) -> None:
        positions = self._positions()
        try:
            with self._transactional():
                # Also every owned partition without a snapshot yet: committed offsets then
                # always come with one (see the module docstring).
                for p in sorted(self._changed | (self._plans.keys() - self._sequences.keys())):
                    if p in self._plans:
                        self._write_snapshot(p, {tp: o for tp, o in positions.items() if tp[1] == p})
                if self._transaction is not None:
                    self._transaction.commit(positions, self.consumer)
                else:
                    self.consumer.commit(positions)
        except Exception:
            if self._transaction is None:
                # At-least-once: the snapshots carry their positions; the commit is retried later.
                logger.warning("query %s: commit failed (a rebalance?); retried at the next "
                               "checkpoint", self.query_id, exc_info=True)
                return
            # Exactly-once: the transaction (outputs, snapshots, offsets) is gone, and with it the
            # state built since the last commit: read again from there.
            logger.warning("query %s: transaction failed (fenced by a rebalance?); its input is read "
                           "again from the last commit", self.query_id, exc_info=True)
            self._transaction.abort()
            self._rewind_all = True
        self._changed.clear()
        self._dirty = False
        self._last_checkpoint = time.monotonic()

    def _write_snapshot(self, partition: int, positions: dict[TP, int]) -> None:
        sequence = self._sequences.get(partition, 0) + 1
        self._sequences[partition] = sequence
        times = {tp: t for tp, t in self.group.partition_times().items() if tp[1] == partition}
        blob = to_bytes(Snapshot()
                        .put("positions", [[t, p, int(o)] for (t, p), o in sorted(positions.items())])
                        .put("partition_times", [[t, p, int(v)] for (t, p), v in sorted(times.items())])
                        .put_children("operators", [op.snapshot() for op in self._plans[partition].all_operators()]))
        chunks = [blob[i:i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [b""]
        slot = sequence % 2
        keys = [f"slot{slot}-chunk{i}".encode() for i in range(len(chunks))] + [f"slot{slot}-manifest".encode()]
        prefix = SEQUENCE.pack(sequence)
        values = [prefix + chunk for chunk in chunks] + [prefix + SEQUENCE.pack(len(chunks))]
        now = int(time.time() * 1000)
        self.log.append(self._changelog, pa.table({
            "key": pa.array(keys, pa.binary()), "value": pa.array(values, pa.binary()),
            "timestamp": pa.array([now] * len(keys), pa.int64()),
            "headers": pa.nulls(len(keys), HEADER_TYPE)}), partition=partition)

    def _read_snapshot(self, partition: int) -> Optional[tuple[int, Snapshot]]:
        """The newest complete, verified snapshot in the changelog partition: (sequence, state), or
        None (a corrupt one is skipped with a warning: the other slot may hold an older one)."""
        latest: dict[bytes, bytes] = {}
        offset = self.log.start_offsets(self._changelog)[partition]
        end = self.log.end_offsets(self._changelog)[partition]
        while offset < end:
            batch = self.log.read(self._changelog, partition, offset)
            if batch.num_rows == 0:
                break
            latest.update(zip(batch.column("key").to_pylist(), batch.column("value").to_pylist()))
            offset = batch.column("offset")[-1].as_py() + 1
        complete = []
        for slot in (0, 1):
            manifest = latest.get(f"slot{slot}-manifest".encode())
            if manifest is None or len(manifest) != 16:
                continue
            sequence, count = SEQUENCE.unpack(manifest[:8])[0], SEQUENCE.unpack(manifest[8:16])[0]
            chunks = [latest.get(f"slot{slot}-chunk{i}".encode()) for i in range(max(0, min(count, 1 << 20)))]
            if all(c is not None and len(c) >= 8 and SEQUENCE.unpack(c[:8])[0] == sequence for c in chunks):
                complete.append((sequence, b"".join(c[8:] for c in chunks)))
        for sequence, blob in sorted(complete, reverse=True):
            try:
                return sequence, decode(blob)
            except SnapshotError as error:
                logger.warning("query %s: snapshot %d of partition %d in %s is unreadable (%s)",
                               self.query_id, sequence, partition, self._changelog, error)
        return None

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        with self._lock:
            try:
                if self._dirty and self.state == RUNNING:
                    self._checkpoint()
            finally:
                if self._transaction is not None:
                    self._transaction.close()
                self.state = TERMINATED if self.state != ERROR else self.state
                self.consumer.close()


def _positions_from(entries: list, what: str = "position") -> dict[TP, int]:
    """[[topic, partition, number], ...] checked entry by entry (only positions are >= 0)."""
    positions = {}
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                and all(isinstance(n, int) and not isinstance(n, bool) for n in entry[1:])
                and entry[1] >= 0 and (entry[2] >= 0 or what != "position")):
            raise SnapshotError(f"invalid {what} {entry!r}")
        positions[(entry[0], entry[1])] = entry[2]
    return positions


def is_partition_aligned(plan) -> bool:
    """True if each stateful operator of the plan only ever combines rows of one input partition
    (so one plan per partition computes the same result): joins key to key, GROUP BY the source's
    key. Other stateful plans would need a repartition topic to be split between processes."""
    from pyksqlite.planner.joins import FOREIGN_KEY
    from pyksqlite.common.schema import KEY
    relation = plan.relation
    steps = getattr(relation, "steps", None)
    if steps is not None:
        if hasattr(plan, "group_by"):
            return False
        keys = {f.sql_name for leaf in relation.leaves for f in leaf.fields if f.namespace == KEY}
        return all(step.join_type != FOREIGN_KEY and step.left_column in keys and step.right_column in keys
                   for step in steps)
    if hasattr(plan, "group_by"):
        source_keys = {c.name for c in relation.source.schema.key_columns}
        grouped = {e.name for e in plan.group_by if isinstance(e, ast.ColumnRef)}
        return bool(source_keys) and len(grouped) == len(plan.group_by) and grouped == source_keys
    return True


def changelog_topic_name(group: str, plan) -> str:
    """The changelog topic of a query's state, named as ksqlDB names its stores' changelogs."""
    store = "Aggregate-Aggregate-Materialize" if hasattr(plan, "aggregates") else \
        "KafkaTopic_Right-Reduce" if hasattr(plan, "leaves") or hasattr(getattr(plan, "relation", None), "leaves") \
        else "Materialize"
    return f"{group}-{store}-changelog"
