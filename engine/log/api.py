"""The log interface: the only thing the engine knows about storage.

Kafka's model: topics of N partitions, records (key bytes, value bytes, timestamp, headers) at
consecutive offsets per partition, consumer groups with committed offsets. Records move in Arrow
record batches, never one Python object per record. The embedded implementation
(`pyksqlite.log.embedded.log.EmbeddedLog`) keeps them in local files; an Apache Kafka implementation
can be put behind the same two Protocols without touching the engine.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Iterable, Optional, Protocol, runtime_checkable

import pyarrow as pa

HEADER_TYPE = pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))

# What a producer appends. `value` null is a tombstone; `key` null is a keyless record.
# `headers` may be null (no headers). Extra columns are ignored.
PRODUCE_SCHEMA = pa.schema([
    ("key", pa.binary()),
    ("value", pa.binary()),
    ("timestamp", pa.int64()),
    ("headers", HEADER_TYPE),
])

# What a consumer reads: the produce columns plus where each record sits.
CONSUME_SCHEMA = pa.schema([
    ("topic", pa.string()),
    ("partition", pa.int32()),
    ("offset", pa.int64()),
    ("key", pa.binary()),
    ("value", pa.binary()),
    ("timestamp", pa.int64()),
    ("headers", HEADER_TYPE),
])


class LogError(Exception):
    """A failure of the log, naming the topic and partition it happened in."""


class LogAppendError(LogError):
    """An append failed and nothing of it was stored (in any partition). `errno` is the OS
    error's (ENOSPC when the disk is full); retrying the same append later is safe."""

    def __init__(self, topic: str, partition: int, cause: OSError):
        self.topic, self.partition, self.errno = topic, partition, cause.errno
        super().__init__(f"cannot append to topic '{topic}' partition {partition}: "
                         f"{cause.strerror or cause} (nothing of this append was written)")

    @property
    def disk_full(self) -> bool:
        return self.errno in _DISK_FULL


class CorruptRecordError(LogError):
    """Stored records failed their checksum, or are missing though they were acknowledged.
    Offsets `offset`..`last_offset` of the partition cannot be read; the records before them
    can, and so can those after (a reader may seek past)."""

    def __init__(self, topic: str, partition: int, offset: int, last_offset: int, reason: str):
        self.topic, self.partition, self.offset, self.last_offset = topic, partition, offset, last_offset
        self.reason = reason
        where = f"offset {offset}" if last_offset == offset else f"offsets {offset}-{last_offset}"
        super().__init__(f"corrupt records in topic '{topic}' partition {partition} at {where}: {reason}")


class OffsetOutOfRangeError(LogError):
    """A committed or restored position lies past the end of the partition: records this
    position had read are gone from the log (or it belongs to another log), and reading on from
    the end would silently skip the records appended until the end reaches it again."""

    def __init__(self, topic: str, partition: int, offset: int, end: int):
        self.topic, self.partition, self.offset, self.end = topic, partition, offset, end
        super().__init__(f"position {offset} of topic '{topic}' partition {partition} is past "
                         f"the end of the partition ({end})")


class LogLockedError(LogError):
    """Another process (or another log object of this process) has the log directory open."""


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(error: BaseException) -> bool:
    """True if `error` (or an error it was raised from) says the disk or quota is full."""
    seen = 0
    while error is not None and seen < 10:
        if getattr(error, "errno", None) in _DISK_FULL:
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


@dataclass(frozen=True)
class TopicConfig:
    """Per-topic settings, named as Kafka's topic configs are."""
    partitions: int = 1
    cleanup_policy: str = "delete"          # delete | compact | compact,delete
    retention_ms: int = 7 * 24 * 3600 * 1000  # -1: keep forever
    retention_bytes: int = -1               # per partition; -1: no limit
    segment_bytes: int = 64 * 1024 * 1024
    delete_retention_ms: int = 24 * 3600 * 1000  # how long compaction keeps tombstones
    extra: tuple[tuple[str, str], ...] = field(default=())  # other configs, passed through


@runtime_checkable
class Consumer(Protocol):
    """A member of a consumer group reading some topics. Not thread-safe: one thread per consumer."""

    def assignment(self) -> list[tuple[str, int]]:
        """The (topic, partition) pairs this member owns now (after the latest rebalance)."""

    def poll(self, max_records: int = 100_000) -> Optional[pa.RecordBatch | pa.Table]:
        """The next records (CONSUME_SCHEMA) from the assigned partitions, or None if none are
        available. Ordering holds within a partition. Advances the position, not the commit.
        Reads from every assigned, unpaused partition that has records left.
        Raises CorruptRecordError at damaged records (after returning those before them) and
        OffsetOutOfRangeError for a committed position past a partition's end."""

    def pause(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Stop fetching these partitions (their positions stay) until `resume`."""

    def resume(self, partitions: Iterable[tuple[str, int]]) -> None: ...

    def current_lag(self, topic: str, partition: int) -> Optional[int]:
        """Records between the position and the partition's end as last seen, without a
        round trip (None if not known yet), as Kafka's `currentLag`."""

    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Read `partition` from `offset` next."""

    def seek_to_beginning(self) -> None: ...

    def seek_to_timestamp(self, timestamp_ms: int) -> None:
        """Every assigned partition moves to its first record with timestamp >= timestamp_ms."""

    def position(self, topic: str, partition: int) -> int:
        """The offset the next poll reads from in that partition."""

    def commit(self, offsets: Optional[dict[tuple[str, int], int]] = None) -> None:
        """Durably commit the given next-offsets (default: the current positions) for the group."""

    def committed(self) -> dict[tuple[str, int], int]: ...

    def close(self) -> None:
        """Leave the group; the member's partitions are reassigned to the remaining members."""


@runtime_checkable
class Transaction(Protocol):
    """A transactional writer (exactly-once), from `log.transaction(name)` on the logs that have
    transactions (the embedded log: `pyksqlite.log.embedded.transactions`; Kafka: `kafka_transactions`).
    Appends of a thread inside `log.transactional(transaction)` belong to its open transaction:
    no reader sees them before `commit`."""
    log: "Log"

    def commit(self, offsets: dict[tuple[str, int], int], consumer: Consumer,
               metadata: Optional[dict] = None) -> None:
        """Make what was appended since the last commit visible together with the consumed
        `offsets` (committed for the consumer's group) and `metadata` (a small JSON object
        committed with them), or none of it (raising)."""

    def abort(self) -> None:
        """Drop the open transaction: nothing of it is ever visible."""

    def close(self) -> None: ...


@runtime_checkable
class Log(Protocol):
    """Topics, producing and consumer groups."""

    # --- admin ---
    def create_topic(self, name: str, config: TopicConfig = TopicConfig(), exist_ok: bool = False) -> None: ...
    def delete_topic(self, name: str) -> None: ...
    def topic_exists(self, name: str) -> bool: ...
    def list_topics(self) -> list[str]: ...
    def topic_config(self, name: str) -> TopicConfig: ...

    # --- produce ---
    def append(self, topic: str, records: pa.RecordBatch | pa.Table,
               partition: Optional[int] | pa.Array = None) -> None:
        """Append records (PRODUCE_SCHEMA columns). `partition`: None routes each record with
        Kafka's default partitioner (murmur2 of the key bytes; keyless records round-robin),
        an int sends all to that partition, an int32 array gives one partition per record.
        Returns once the records are durable per the log's flush policy. Raises
        LogAppendError if they could not be stored; then none of them was."""

    # --- read ---
    def start_offsets(self, topic: str) -> list[int]: ...
    def end_offsets(self, topic: str) -> list[int]:
        """Per partition, the offset the next appended record will get."""

    def read(self, topic: str, partition: int, offset: int, max_records: int = 100_000) -> pa.RecordBatch:
        """Records (CONSUME_SCHEMA) of one partition from `offset` (or the first offset after it
        still present, after retention/compaction); empty at the end. Raises CorruptRecordError
        when the records at `offset` are damaged; a read stops before damaged records."""

    def offset_for_timestamp(self, topic: str, partition: int, timestamp_ms: int) -> int: ...

    def consumer(self, group: str, topics: Iterable[str], auto_offset_reset: str = "earliest") -> Consumer:
        """Join `group` as a new member subscribed to `topics`; partitions are split between the
        group's live members. Positions start at the group's committed offsets, else per
        auto_offset_reset (earliest | latest)."""

    # --- maintenance ---
    def run_maintenance(self, now_ms: Optional[int] = None) -> None:
        """Apply retention (delete whole old segments) and compaction."""

    def flush(self) -> None: ...
    def close(self) -> None: ...
