"""The embedded log: Kafka's topics, partitions and consumer groups on local files.

Layout under the log directory:
    lock                                held by the one process that has the log open (see `owner`)
    topics/<topic>/config.json          the TopicConfig
    topics/<topic>/<partition>/<base offset>.log   segments (see `segment`)
    topics/<topic>/<partition>/high-water          the end offset acknowledged last (see `recovery`)
    groups/<group>/...                  committed offsets and members (see `groups`), the commit
                                        record of a transactional writer (see `transactions`)

`flush="batch"` fsyncs every append before it returns (acknowledged = durable);
`flush="none"` leaves writing back to the OS (fast; for tests and benchmarks): a process crash
loses nothing, a power loss may lose the last appends.

An append is all-or-nothing over its partitions: every partition's batches are written (and
synced) under the partitions' locks, taken in index order, before any of them is shown to
readers; if one partition's write fails, the others are cut back and LogAppendError is raised.
Appends inside `transactional(txn)` are staged by the transaction until it commits (exactly-once).
"""
from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
import weakref
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contextlib import ExitStack, contextmanager

from pyksqlite.common import crash_points
from pyksqlite.log.api import HEADER_TYPE, LogError, TopicConfig
from pyksqlite.log.embedded.cleanup import apply_retention, compact
from pyksqlite.log.embedded.consumer import GroupConsumer
from pyksqlite.log.embedded.groups import CorruptGroupFile, OffsetStore, write_json_durably
from pyksqlite.log.embedded.owner import DirectoryLock
from pyksqlite.log.embedded.partition import Partition, PendingAppend
from pyksqlite.log.partitioner import partitions_for_keys
from pyksqlite.log.embedded.segment import STORED_SCHEMA
from pyksqlite.log.embedded.transactions import EmbeddedTransaction
from pyksqlite.common.names import inside

LEGAL_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
logger = logging.getLogger("ksqlite.log")


class Topic:
    """A topic's config and partitions, plus the round-robin cursor for keyless records."""

    def __init__(self, name: str, config: TopicConfig, partitions: list[Partition]):
        self.name = name
        self.config = config
        self.partitions = partitions
        self.round_robin = 0


class EmbeddedLog:
    """A file-backed implementation of the `Log` protocol. One process (one EmbeddedLog) at a
    time has a log directory open: another gets LogLockedError naming the holder."""

    def __init__(self, directory: str | Path, flush: str = "batch"):
        if flush not in ("batch", "none"):
            raise ValueError(f"flush must be 'batch' or 'none', not {flush!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = DirectoryLock.acquire(self.directory)  # before recovery touches a file
        self.sync = flush == "batch"
        self.topics_version = 0
        self._admin_lock = threading.RLock()
        self._topics: dict[str, Topic] = {}
        self._consumers: "weakref.WeakSet[GroupConsumer]" = weakref.WeakSet()
        self._transactions: "weakref.WeakValueDictionary[str, EmbeddedTransaction]" = weakref.WeakValueDictionary()
        self._scope = threading.local()
        (self.directory / "topics").mkdir(parents=True, exist_ok=True)
        (self.directory / "groups").mkdir(parents=True, exist_ok=True)
        committed_ends = self._committed_ends()
        for topic_dir in sorted((self.directory / "topics").iterdir()):
            if (topic_dir / "config.json").exists():
                self._open_topic(topic_dir.name, _read_config(topic_dir / "config.json"), committed_ends)

    # --- admin ---
    def create_topic(self, name: str, config: TopicConfig = TopicConfig(), exist_ok: bool = False) -> None:
        if not LEGAL_TOPIC_NAME.fullmatch(name) or name in (".", ".."):
            raise ValueError(f"illegal topic name {name!r}: use 1-249 of [A-Za-z0-9._-]")
        if config.partitions < 1:
            raise ValueError(f"topic {name!r} needs at least one partition")
        with self._admin_lock:
            if name in self._topics:
                if exist_ok:
                    return
                raise ValueError(f"topic {name!r} already exists")
            topic_dir = self._topic_dir(name)
            topic_dir.mkdir(parents=True, exist_ok=True)
            _write_config(topic_dir / "config.json", config, fsync=self.sync)
            self._open_topic(name, config)

    def _open_topic(self, name: str, config: TopicConfig,
                    committed_ends: Optional[dict[tuple[str, int], int]] = None) -> None:
        ends = committed_ends or {}
        partitions = [Partition.open(self._topic_dir(name) / str(i), name, i, config.segment_bytes, self.sync,
                                     ends.get((name, i)))
                      for i in range(config.partitions)]
        self._topics[name] = Topic(name, config, partitions)
        self.topics_version += 1

    def delete_topic(self, name: str) -> None:
        with self._admin_lock:
            topic = self._topic(name)
            del self._topics[name]
            self.topics_version += 1
            for partition in topic.partitions:
                partition.close()
            shutil.rmtree(self._topic_dir(name), ignore_errors=True)
            for group_dir in (self.directory / "groups").iterdir():
                if (group_dir / "offsets.json").exists() or (group_dir / "transaction").exists():
                    OffsetStore(group_dir).forget_topic(name)

    def topic_exists(self, name: str) -> bool:
        return name in self._topics

    def list_topics(self) -> list[str]:
        return sorted(self._topics)

    def topic_config(self, name: str) -> TopicConfig:
        return self._topic(name).config

    def partition_count(self, name: str) -> int:
        """Partitions of a topic, 0 if it does not exist (consumers may subscribe early)."""
        topic = self._topics.get(name)
        return len(topic.partitions) if topic else 0

    def partition(self, name: str, index: int) -> Partition:
        partitions = self._topic(name).partitions
        if not 0 <= index < len(partitions):
            raise ValueError(f"topic {name!r} has no partition {index}")
        return partitions[index]

    # --- produce ---
    def append(self, topic: str, records: pa.RecordBatch | pa.Table,
               partition: Optional[int] | pa.Array = None) -> None:
        parts = self._parts(topic, records, partition)
        if not parts:
            return
        transaction = getattr(self._scope, "transaction", None)
        if transaction is not None:   # visible when the transaction commits
            transaction.stage(parts)
            return
        _append_all_or_nothing(parts)

    def _parts(self, topic: str, records: pa.RecordBatch | pa.Table,
               partition: Optional[int] | pa.Array) -> list[tuple[Partition, pa.RecordBatch]]:
        """The records as STORED_SCHEMA batches, one per destination partition, in index order."""
        target = self._topic(topic)
        stored = _to_stored(records)
        if stored.num_rows == 0:
            return []
        if isinstance(partition, (int, np.integer)):
            return [(self.partition(topic, int(partition)), stored)]
        destinations = self._destinations(target, stored, partition)
        return [(target.partitions[index], stored.take(pa.array(rows)) if len(rows) < stored.num_rows else stored)
                for index, rows in _group_rows_by_partition(destinations, len(target.partitions))]

    # --- transactions (exactly-once, see `transactions`) ---
    def transaction(self, name: str) -> EmbeddedTransaction:
        """The transactional writer of consumer group `name`; an older one of it is fenced."""
        with self._admin_lock:
            previous = self._transactions.get(name)
            if previous is not None:
                previous.fenced = True
            transaction = EmbeddedTransaction(self, name)
            self._transactions[name] = transaction
            return transaction

    @contextmanager
    def transactional(self, transaction: Optional[EmbeddedTransaction]):
        """Appends of this thread go into `transaction` inside the block (None: no change)."""
        previous = getattr(self._scope, "transaction", None)
        self._scope.transaction = transaction if transaction is not None else previous
        try:
            yield
        finally:
            self._scope.transaction = previous

    def _committed_ends(self) -> dict[tuple[str, int], int]:
        """Per partition, where the batches of committed transactions end (the furthest of every
        writer's commit record): recovery keeps transactional batches up to there."""
        ends: dict[tuple[str, int], int] = {}
        for group_dir in sorted((self.directory / "groups").iterdir()):
            if not (group_dir / "transaction").exists():
                continue
            try:
                record = OffsetStore(group_dir).transaction_record()
            except CorruptGroupFile as error:
                logger.error("%s; its batches past the high-water offsets of their partitions are cut", error)
                continue
            if record is None:
                continue
            for tp, end in record.ends.items():
                ends[tp] = max(end, ends.get(tp, 0))
        return ends

    def _destinations(self, topic: Topic, stored: pa.RecordBatch, partition) -> np.ndarray:
        if partition is None:
            keys = stored.column("key")
            destinations = partitions_for_keys(keys, len(topic.partitions), topic.round_robin)
            topic.round_robin += keys.null_count
            return destinations
        destinations = np.asarray(pa.array(partition).to_numpy(zero_copy_only=False), dtype=np.int32)
        if len(destinations) != stored.num_rows:
            raise ValueError("one partition per record is needed")
        if destinations.size and (destinations.min() < 0 or destinations.max() >= len(topic.partitions)):
            raise ValueError(f"topic {topic.name!r} has {len(topic.partitions)} partitions")
        return destinations

    # --- read ---
    def start_offsets(self, topic: str) -> list[int]:
        return [p.start_offset for p in self._topic(topic).partitions]

    def end_offsets(self, topic: str) -> list[int]:
        return [p.end_offset for p in self._topic(topic).partitions]

    def read(self, topic: str, partition: int, offset: int, max_records: int = 100_000) -> pa.RecordBatch:
        return self.partition(topic, partition).read(offset, max_records)

    def offset_for_timestamp(self, topic: str, partition: int, timestamp_ms: int) -> int:
        return self.partition(topic, partition).offset_for_timestamp(timestamp_ms)

    def consumer(self, group: str, topics: Iterable[str], auto_offset_reset: str = "earliest") -> GroupConsumer:
        consumer = GroupConsumer(self, group, topics, auto_offset_reset)
        self._consumers.add(consumer)
        return consumer

    # --- maintenance ---
    def run_maintenance(self, now_ms: Optional[int] = None) -> None:
        """Retention and compaction; a partition that cannot be compacted (damaged records) is
        reported and left as it is, the others are cleaned."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        for topic in list(self._topics.values()):
            policies = {p.strip() for p in topic.config.cleanup_policy.split(",")}
            for partition in topic.partitions:
                try:
                    if "compact" in policies:
                        compact(partition, topic.config, now_ms)
                    if "delete" in policies:
                        apply_retention(partition, topic.config, now_ms)
                except (LogError, OSError) as error:
                    logger.error("cleaning %s failed: %s", partition.label, error)

    def flush(self) -> None:
        for topic in list(self._topics.values()):
            for partition in topic.partitions:
                partition.flush()

    def close(self) -> None:
        """Close the files; this log's consumers leave their groups."""
        with self._admin_lock:
            for consumer in list(self._consumers):
                consumer.close()
            for topic in self._topics.values():
                for partition in topic.partitions:
                    partition.close()
            self._topics.clear()
            self._lock_file.release()

    def _topic(self, name: str) -> Topic:
        try:
            return self._topics[name]
        except KeyError:
            raise KeyError(f"topic {name!r} does not exist") from None

    def _topic_dir(self, name: str) -> Path:
        return inside(self.directory / "topics", name)


def _append_all_or_nothing(parts: list[tuple[Partition, pa.RecordBatch]]) -> None:
    """Append each batch to its partition (in partition order), all or none of them."""
    encoded = [(partition, partition.encode(batch)) for partition, batch in parts]
    with ExitStack() as locks:
        for partition, _ in encoded:
            locks.enter_context(partition.lock)
        prepared: list[tuple[Partition, PendingAppend]] = []
        try:
            for partition, batches in encoded:
                prepared.append((partition, partition.prepare(batches)))
        except BaseException:
            for partition, pending in prepared:
                partition.abort(pending)
            raise
        if crash_points.ARMED:
            crash_points.reach("log.append.written")
        for partition, pending in prepared:
            partition.publish(pending)


def _to_stored(records: pa.RecordBatch | pa.Table) -> pa.RecordBatch:
    """The STORED_SCHEMA batch of produced records: missing or null timestamps become now."""
    if isinstance(records, pa.Table):
        records = records.combine_chunks().to_batches()[0] if records.num_rows else \
            pa.RecordBatch.from_pylist([], schema=STORED_SCHEMA)
    n = records.num_rows
    names = records.schema.names
    timestamps = records.column("timestamp") if "timestamp" in names else pa.nulls(n, pa.int64())
    if timestamps.null_count:
        timestamps = pc.fill_null(timestamps.cast(pa.int64()), int(time.time() * 1000))
    columns = [
        timestamps.cast(pa.int64()),
        _column(records, "key", pa.binary()),
        _column(records, "value", pa.binary()),
        _column(records, "headers", HEADER_TYPE),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=STORED_SCHEMA)


def _column(records: pa.RecordBatch, name: str, type_: pa.DataType) -> pa.Array:
    if name not in records.schema.names:
        return pa.nulls(records.num_rows, type_)
    column = records.column(name)
    return column if column.type == type_ else column.cast(type_)


def _group_rows_by_partition(destinations: np.ndarray, count: int):
    """(partition, row indices in order) for each partition that gets rows."""
    order = np.argsort(destinations, kind="stable")
    bounds = np.searchsorted(destinations[order], np.arange(count + 1))
    for index in range(count):
        rows = order[bounds[index]:bounds[index + 1]]
        if len(rows):
            yield index, rows


def _write_config(path: Path, config: TopicConfig, fsync: bool) -> None:
    write_json_durably(path, asdict(config), fsync=fsync)


def _read_config(path: Path) -> TopicConfig:
    raw = json.loads(path.read_text())
    raw["extra"] = tuple(tuple(pair) for pair in raw.get("extra", ()))
    return TopicConfig(**raw)
