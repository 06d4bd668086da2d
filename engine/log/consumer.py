"""A consumer group member of the embedded log (the `Consumer` protocol).

Each poll first checks the group's membership (see `groups`) and takes its new assignment when
it changed, then reads the assigned partitions round-robin, starting one partition further each
poll so none starves, until `max_records` are gathered.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional

import pyarrow as pa

from engine.log.api import OffsetOutOfRangeError
from engine.log.groups import Membership, OffsetStore, TopicPartition, group_directory, range_assignment

if TYPE_CHECKING:
    from engine.log.embedded import EmbeddedLog


class GroupConsumer:
    """One member of a consumer group. Not thread-safe: one thread per consumer."""

    def __init__(self, log: "EmbeddedLog", group: str, topics: Iterable[str], auto_offset_reset: str):
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
        self._turn = 0
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
    def poll(self, max_records: int = 100_000) -> Optional[pa.RecordBatch]:
        self._rebalance_if_needed()
        if not self._assigned:
            return None
        batches, remaining = [], max_records
        count = len(self._assigned)
        for i in range(count):
            if remaining <= 0:
                break
            batch = self._read_partition(self._assigned[(self._turn + i) % count], remaining)
            if batch is not None:
                batches.append(batch)
                remaining -= batch.num_rows
        self._turn = (self._turn + 1) % count
        if not batches:
            return None
        return batches[0] if len(batches) == 1 else pa.concat_batches(batches)

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
        self._rebalance_if_needed()
        if (topic, partition) not in self._positions:
            raise ValueError(f"{topic}-{partition} is not assigned to this consumer")
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

