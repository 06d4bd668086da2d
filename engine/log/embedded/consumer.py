"""A consumer group member of the embedded log (the `Consumer` protocol).

Each poll first checks the group's membership (see `groups`) and takes its new assignment when
it changed, then reads every assigned partition that has records left and is not paused, the
`max_records` shared fairly between them (a partition with less left leaves its share to the
others): a task that merges its partitions by timestamp (`pyksqlite.runtime.partition_group`) needs records
of each of them, never one partition's backlog first.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Protocol

import pyarrow as pa

from pyksqlite.log.api import OffsetOutOfRangeError
from pyksqlite.log.embedded.partition import Partition
from pyksqlite.log.embedded.groups import Membership, OffsetStore, TopicPartition, group_directory, range_assignment



class GroupLog(Protocol):
    """What a group member reads of its log (the `EmbeddedLog` it belongs to)."""
    directory: Path
    sync: bool
    topics_version: int

    def partition_count(self, name: str) -> int: ...

    def partition(self, name: str, index: int) -> Partition: ...

    def start_offsets(self, topic: str) -> list[int]: ...

    def end_offsets(self, topic: str) -> list[int]: ...

    def read(self, topic: str, partition: int, offset: int, max_records: int = 100_000) -> pa.RecordBatch: ...

    def offset_for_timestamp(self, topic: str, partition: int, timestamp_ms: int) -> int: ...


class GroupConsumer:
    """One member of a consumer group. Not thread-safe: one thread per consumer."""

    def __init__(self, log: GroupLog, group: str, topics: Iterable[str], auto_offset_reset: str):
        if auto_offset_reset not in ("earliest", "latest"):
            raise ValueError(f"auto_offset_reset must be earliest or latest, not {auto_offset_reset!r}")
        directory = group_directory(log.directory, group)
        self.group = group
        self._log = log
        self._auto_offset_reset = auto_offset_reset
        self._membership = Membership(directory, durable=log.sync)
        self._offsets = OffsetStore(directory, durable=log.sync)
        self._member_id = self._membership.join(topics, owner=self)
        self._assigned: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._seen_state = None
        self._paused: set[TopicPartition] = set()
        self._closed = False

    # --- membership ---
    def assignment(self) -> list[TopicPartition]:
        self._rebalance_if_needed()
        return list(self._assigned)

    def _rebalance_if_needed(self) -> None:
        if self._closed:
            raise RuntimeError(f"consumer of group {self.group!r} is closed")
        members = self._membership.live_members()
        state = (tuple(members), self._log.topics_version)
        if state == self._seen_state:
            return
        self._seen_state = state
        assigned = range_assignment(members, self._log.partition_count).get(self._member_id, [])
        newly_assigned = [tp for tp in assigned if tp not in self._positions]
        if newly_assigned:
            committed = self._offsets.load()
            for tp in newly_assigned:
                self._positions[tp] = self._valid_offset(tp, committed.get(tp))
        self._positions = {tp: self._positions[tp] for tp in assigned}
        self._assigned = assigned

    def _valid_offset(self, tp: TopicPartition, offset: Optional[int]) -> int:
        """`offset` if it lies in the partition; where auto_offset_reset says if there is none
        or retention deleted it. A committed offset past the end is an error: the log lost
        records the group had read, and reading on would skip as many new ones."""
        start = self._log.start_offsets(tp[0])[tp[1]]
        end = self._log.end_offsets(tp[0])[tp[1]]
        if offset is not None and offset > end:
            raise OffsetOutOfRangeError(tp[0], tp[1], offset, end)
        if offset is not None and start <= offset:
            return offset
        return start if self._auto_offset_reset == "earliest" else end

    # --- reading ---
    def poll(self, max_records: int = 100_000) -> Optional[pa.RecordBatch | pa.Table]:
        self._rebalance_if_needed()
        lags = {}
        for tp in self._assigned:
            if tp not in self._paused:
                lag = self._log.partition(*tp).end_offset - self._positions[tp]
                if lag > 0:
                    lags[tp] = lag
        batches = []
        for tp, share in fair_shares(lags, max_records).items():
            batch = self._read_partition(tp, share)
            if batch is not None:
                batches.append(batch)
        if not batches:
            return None
        return batches[0] if len(batches) == 1 else pa.Table.from_batches(batches)  # no copy

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        self._paused.update(partitions)

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        self._paused.difference_update(partitions)

    def current_lag(self, topic: str, partition: int) -> Optional[int]:
        if (topic, partition) not in self._positions:
            self._rebalance_if_needed()
        position = self._positions.get((topic, partition))
        if position is None:
            return None
        return max(0, self._log.partition(topic, partition).end_offset - position)

    def _read_partition(self, tp: TopicPartition, max_records: int) -> Optional[pa.RecordBatch]:
        position = self._positions[tp]
        end = self._log.partition(*tp).end_offset
        if position >= end:
            return None
        batch = self._log.read(tp[0], tp[1], position, max_records)
        if batch.num_rows == 0:
            self._positions[tp] = end  # everything before `end` from here was compacted away
            return None
        self._positions[tp] = batch.column("offset")[-1].as_py() + 1
        return batch

    # --- positions ---
    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Read `partition` from `offset` next. A position past the partition's end (one restored
        from a checkpoint of records the log no longer has) is OffsetOutOfRangeError, never a
        silent wait for the end to catch up; one before its start reads from the start."""
        self._rebalance_if_needed()
        if (topic, partition) not in self._positions:
            raise ValueError(f"{topic}-{partition} is not assigned to this consumer")
        if offset < 0:
            raise ValueError(f"cannot seek {topic}-{partition} to the negative offset {offset}")
        end = self._log.partition(topic, partition).end_offset
        if offset > end:
            raise OffsetOutOfRangeError(topic, partition, offset, end)
        self._positions[(topic, partition)] = offset

    def seek_to_beginning(self) -> None:
        self._rebalance_if_needed()
        for topic, partition in self._assigned:
            self._positions[(topic, partition)] = self._log.start_offsets(topic)[partition]

    def seek_to_timestamp(self, timestamp_ms: int) -> None:
        self._rebalance_if_needed()
        for topic, partition in self._assigned:
            self._positions[(topic, partition)] = self._log.offset_for_timestamp(topic, partition, timestamp_ms)

    def position(self, topic: str, partition: int) -> int:
        self._rebalance_if_needed()
        return self._positions[(topic, partition)]

    # --- commits ---
    def commit(self, offsets: Optional[dict[TopicPartition, int]] = None) -> None:
        self._offsets.commit(dict(self._positions) if offsets is None else offsets)

    def committed(self) -> dict[TopicPartition, int]:
        return self._offsets.load()

    def close(self) -> None:
        if not self._closed:
            self._membership.leave(self._member_id)
            self._closed = True


def fair_shares(lags: dict[TopicPartition, int], budget: int) -> dict[TopicPartition, int]:
    """How many records to read from each partition: `budget` split evenly, a partition with
    fewer left than its share leaving the rest to the others (at least one each)."""
    shares, remaining = {}, budget
    pending = sorted(lags.items(), key=lambda item: item[1])
    for index, (tp, lag) in enumerate(pending):
        share = min(lag, max(1, remaining // (len(pending) - index)))
        shares[tp] = share
        remaining -= share
    return shares
