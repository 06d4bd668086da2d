"""Transactions on the embedded log: exactly-once processing (`processing.guarantee=exactly_once_v2`).

Kafka makes a transaction's records visible atomically with transaction markers, a last stable
offset per partition and read-committed readers. The embedded log gets the same guarantee with
one commit record per transactional writer and its two-step appends (write, then publish):

- While a transaction is open, the appends of a thread inside `EmbeddedLog.transactional(txn)`
  are *staged* in memory. Nothing a transaction wrote is in any partition before it commits, so
  every reader (queries, push and pull queries, PRINT, the test runners) only ever reads
  committed records, with no reader-side filtering at all.
- `commit(offsets, consumer, metadata)`, under the locks of the partitions it writes to (taken in
  (topic, partition) order, the order every append takes them in):
    1. write the staged records into their partitions as transactional batches (magic `KSLT`),
       unpublished, and synced with the flush policy "batch";
    2. replace the writer's commit record `groups/<group>/transaction` (temp file, fsync, rename):
       **the commit point**. It holds the group's consumed offsets, the metadata (a query's
       checkpoint identity) and, per partition the writer ever wrote to, where its batches end
       (see `transaction_record`);
    3. publish the batches (and move the partitions' high-water offsets), release the locks.
  A failure before the rename takes the batches back (TransactionCommitError; the staged records
  are kept, so the commit can be retried, e.g. once a full disk has space again). From the
  rename on, the transaction is committed.
- Recovery when the log opens (`recovery`): transactional batches at the end of a partition,
  past its high-water offset and past every commit record's end for it, belong to a transaction
  killed between steps 1 and 2: they are cut off. Batches that a record covers stay, published
  or not. No other writer's records are ever cut with them: nothing can be appended behind a
  transaction's batches while they are unpublished, since the transaction holds the lock.
- The group's committed offsets are its commit record's (`groups.OffsetStore`): outputs,
  offsets and metadata become visible together or not at all.
- Fencing: a new transaction for a group fences the older one of this process (a Kafka producer
  epoch does the same); its commit raises ProducerFencedError. One process owns a log directory
  (`owner`), so no zombie of another process can write.

The cost: one small file replaced per commit (fsynced with flush "batch"); the records are encoded
and written once, as a plain append would write them.
"""
from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Optional, Protocol

import pyarrow as pa

from pyksqlite.common import crash_points
from pyksqlite.log.api import LogError
from pyksqlite.log.embedded.partition import Partition
from pyksqlite.log.embedded.groups import CorruptGroupFile, OffsetStore, group_directory
from pyksqlite.log.embedded.transaction_record import TransactionRecord

TopicPartition = tuple[str, int]


class TransactionLog(Protocol):
    """What a transaction needs of its log (the `EmbeddedLog` it writes to)."""
    directory: Path
    sync: bool


class TransactionCommitError(LogError):
    """A commit failed and nothing of the transaction was stored; `commit` may be retried."""


class ProducerFencedError(LogError):
    """A newer transaction of the same writer exists; this one can no longer commit."""


class EmbeddedTransaction:
    """One transactional writer (a query task) and its open transaction."""

    def __init__(self, log: TransactionLog, group: str):
        self.log = log
        self.group = group
        directory = group_directory(log.directory, group)
        directory.mkdir(parents=True, exist_ok=True)
        self._store = OffsetStore(directory, durable=log.sync)
        self._error: Optional[CorruptGroupFile] = None   # raised by every use, not at creation
        try:
            record = self._store.transaction_record()
        except CorruptGroupFile as error:
            record, self._error = None, error
        self.sequence = record.sequence if record else 0
        self._metadata: Optional[dict[str, Any]] = record.metadata if record else None
        self._ends: dict[TopicPartition, int] = dict(record.ends) if record else {}
        self._staged: dict[Partition, list[pa.RecordBatch]] = {}
        self._lock = threading.Lock()
        self.pending_records = 0
        self.pending_bytes = 0
        self.fenced = False

    @property
    def committed_metadata(self) -> Optional[dict[str, Any]]:
        """The metadata of the last committed transaction (None if none had any)."""
        if self._error is not None:
            raise self._error
        return self._metadata

    @property
    def open(self) -> bool:
        """True while records are staged."""
        return bool(self._staged)

    def stage(self, parts: list[tuple[Partition, pa.RecordBatch]]) -> None:
        """Keep records for the commit (STORED_SCHEMA batches, each for one partition)."""
        with self._lock:
            for partition, batch in parts:
                self._staged.setdefault(partition, []).append(batch)
                self.pending_records += batch.num_rows
                self.pending_bytes += batch.nbytes

    def commit(self, offsets: Optional[dict[TopicPartition, int]] = None, consumer=None,
               metadata: Optional[dict[str, Any]] = None) -> None:
        """Make the staged records, the consumed `offsets` and `metadata` visible together (see
        the module docstring). `consumer` is accepted for the Kafka transaction's signature.
        TransactionCommitError (nothing stored; retry later) or ProducerFencedError."""
        if self._error is not None:
            raise self._error
        if self.fenced:
            raise ProducerFencedError(f"the transaction of {self.group!r} was fenced by a newer one")
        with self._lock:
            staged = sorted(self._staged.items(), key=lambda item: (item[0].topic, item[0].index))
            encoded = [(partition, partition.encode(_concat(batches), transactional=True))
                       for partition, batches in staged]
            record = TransactionRecord(self.sequence + 1, dict(offsets or {}), dict(self._ends), metadata)
            with ExitStack() as locks:
                for partition, _ in encoded:
                    locks.enter_context(partition.lock)
                prepared = self._write(encoded, record)
                if crash_points.ARMED:
                    crash_points.reach("txn.commit.recorded")
                for partition, pending in prepared:
                    partition.publish(pending)
            self.sequence, self._ends, self._metadata = record.sequence, record.ends, metadata
            self._clear()
        if crash_points.ARMED:
            crash_points.reach("txn.commit.published")

    def _write(self, encoded: list, record: TransactionRecord) -> list:
        """Steps 1 and 2: the batches, then the commit record; all taken back if either fails."""
        prepared = []
        try:
            for partition, batches in encoded:
                pending = partition.prepare(batches)
                prepared.append((partition, pending))
                record.ends[(partition.topic, partition.index)] = pending.end_offset
            if crash_points.ARMED:
                crash_points.reach("txn.commit.written")
            self._store.commit_transaction(record)
        except BaseException as error:
            for partition, pending in prepared:
                partition.abort(pending)
            if isinstance(error, (OSError, LogError)):
                raise TransactionCommitError(
                    f"cannot commit the transaction of {self.group!r}: {error} (nothing of it was "
                    "stored)") from error
            raise
        return prepared

    def abort(self) -> None:
        """Drop the staged records: nothing of this transaction is ever visible."""
        with self._lock:
            self._clear()

    def close(self) -> None:
        self.abort()

    def _clear(self) -> None:
        self._staged = {}
        self.pending_records = self.pending_bytes = 0


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    return batches[0] if len(batches) == 1 else pa.concat_batches(batches)
