"""A consumer group member on Apache Kafka (the `Consumer` protocol), on librdkafka.

Membership is Kafka's own: the group coordinator splits partitions between members with the
cooperative-sticky assignor, so a member joining or leaving moves only the partitions that must
move. A consumer of several topics uses the range assignor instead, which gives partition p of
every topic to the same member: a join's co-partitioned inputs stay together (Kafka Streams'
tasks). `on_revoke`, if set, is called with the partitions about to leave, before they do, so
that a task can commit their state first. Offsets are never committed automatically: the runtime commits explicit offsets after a
batch's outputs are written.

`poll` has to tell "nothing yet" from "nothing left", because `Engine.run_until_idle` stops at the
first round in which no query read anything. librdkafka reports a partition's end
(`enable.partition.eof`, with the offset it ended at) once per time the consumer catches up; a
partition counts as caught up while that offset is at or past the end of the last append this
process made to it (`KafkaLog.appended_ends`). So `poll` waits for records until every assigned,
unpaused partition is caught up (or `max_wait` passes), and the first poll waits for the group join.

`current_lag` is Kafka's `currentLag`: the high watermark librdkafka last saw in a fetch response
for the partition (the last stable offset, as the consumer reads committed records only) minus
the position; a task merging its partitions by timestamp waits for partitions with lag.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Optional, Protocol

import pyarrow as pa
from confluent_kafka import OFFSET_BEGINNING, Consumer as RdConsumer, KafkaError, \
    KafkaException, TopicPartition

from pyksqlite.log.api import OffsetOutOfRangeError, TopicConfig
from pyksqlite.log.kafka.records import messages_to_batch



class ConsumerLog(Protocol):
    """What a group member reads of its log (the `KafkaLog` it belongs to): names as Kafka sees
    them, this process's own appends, offsets and topic configs."""
    client_config: dict
    timeout: float
    appended_ends: dict[tuple[str, int], int]   # this process's own appends
    engine_names: dict[str, str]                 # wire name -> topic name

    def wire_name(self, name: str) -> str: ...

    def engine_name(self, wire: str) -> str: ...

    def start_offsets(self, topic: str) -> list[int]: ...

    def end_offsets(self, topic: str) -> list[int]: ...

    def offset_for_timestamp(self, topic: str, partition: int, timestamp_ms: int) -> int: ...

    def topic_exists(self, name: str) -> bool: ...

    def topic_config(self, name: str) -> TopicConfig: ...

TP = tuple[str, int]
JOIN_TIMEOUT_SECONDS = 30.0


class KafkaGroupConsumer:
    """One member of a Kafka consumer group. Not thread-safe: one thread per consumer."""

    def __init__(self, log: ConsumerLog, group: str, topics: Iterable[str], auto_offset_reset: str,
                 max_wait: float = 5.0, config: Optional[dict] = None):
        if auto_offset_reset not in ("earliest", "latest"):
            raise ValueError(f"auto_offset_reset must be earliest or latest, not {auto_offset_reset!r}")
        self.group = group
        self._log = log
        self._auto_offset_reset = auto_offset_reset
        self._max_wait = max_wait
        topics = self._topics = list(topics)
        self.on_revoke: Optional[Callable[[set[TP]], None]] = None
        self._consumer = RdConsumer({
            **log.client_config,
            "group.id": log.wire_name(group),
            "auto.offset.reset": auto_offset_reset,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "partition.assignment.strategy": "cooperative-sticky" if len(set(topics)) == 1 else "range",
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "fetch.wait.max.ms": 100,
            "fetch.queue.backoff.ms": 10,     # default 1 s: a drained queue would sit idle
            "max.partition.fetch.bytes": 8 * 1024 * 1024,
            "topic.metadata.refresh.interval.ms": 5_000,
            **(config or {}),
        })
        self._assigned: set[TP] = set()
        self._joined = False
        self._positions: dict[TP, int] = {}
        self._caught_up: dict[TP, int] = {}   # partition -> the offset its end was reported at
        self._pending: list = []              # messages read while waiting for the join
        self._paused: set[TP] = set()
        self._closed = False
        self._consumer.subscribe([log.wire_name(t) for t in self._topics], on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_revoke)

    # --- membership ---
    def _on_assign(self, consumer, partitions) -> None:
        self._joined = True
        self._assigned.update((self._log.engine_name(p.topic), p.partition) for p in partitions)

    def _on_revoke(self, consumer, partitions) -> None:
        gone = {(self._log.engine_name(p.topic), p.partition) for p in partitions}
        if self.on_revoke is not None and gone:
            self.on_revoke(gone & self._assigned)
        self._assigned -= gone
        self._paused -= gone
        for tp in gone:
            self._positions.pop(tp, None)
            self._caught_up.pop(tp, None)
        self._pending = [m for m in self._pending if self._tp(m) not in gone]

    def _tp(self, message) -> TP:
        return self._log.engine_name(message.topic()), message.partition()

    def _await_join(self) -> None:
        """Serve the group protocol until the first assignment arrives."""
        self._check_open()
        deadline = time.monotonic() + JOIN_TIMEOUT_SECONDS
        while not self._joined and time.monotonic() < deadline:
            message = self._consumer.poll(0.05)
            if message is not None:
                self._pending.append(message)

    def assignment(self) -> list[TP]:
        self._await_join()
        if not self._pending:  # serve a rebalance that may be waiting for this member
            message = self._consumer.poll(0)
            if message is not None:
                self._pending.append(message)
        return sorted(self._assigned)

    # --- reading ---
    def poll(self, max_records: int = 100_000) -> Optional[pa.RecordBatch]:
        self._await_join()
        deadline = time.monotonic() + self._max_wait
        while True:
            messages = self._pending
            self._pending = []
            first = None if messages else self._consumer.poll(0 if self._all_caught_up() else 0.05)
            if first is not None:
                messages.append(first)
            if messages and len(messages) < max_records:
                messages.extend(self._consumer.consume(max_records - len(messages), 0))
            records = self._records(messages)
            if records:
                return messages_to_batch(records, self._log.engine_names)
            if self._all_caught_up() or time.monotonic() > deadline:
                return None

    def _records(self, messages: list) -> list:
        """The records among `messages`; error events are handled here (end of partition noted,
        fatal errors raised)."""
        if not messages:
            return messages
        errors = [m.error() for m in messages]
        events = []
        if any(e is not None for e in errors):
            # An end-of-partition event counts if no record of that partition comes after it.
            data_rows = [i for i, e in enumerate(errors) if e is None]
            tps = [(m.topic(), m.partition()) for m in messages]
            last_data = {tps[i]: i for i in data_rows}
            events = [m for i, (m, e) in enumerate(zip(messages, errors))
                      if e is not None and last_data.get(tps[i], -1) < i]
            messages = [messages[i] for i in data_rows]
        if messages:
            wire_to_engine = self._log.engine_name
            last = dict(zip(zip((m.topic() for m in messages), (m.partition() for m in messages)),
                            (m.offset() for m in messages)))
            for (topic, partition), offset in last.items():
                tp = (wire_to_engine(topic), partition)
                self._positions[tp] = offset + 1
                self._caught_up.pop(tp, None)
        for event in events:
            self._on_error_event(event)
        return messages

    def _on_error_event(self, event) -> None:
        error = event.error()
        if error.code() == KafkaError._PARTITION_EOF:
            tp = (self._log.engine_name(event.topic()), event.partition())
            if tp in self._assigned:
                self._positions[tp] = event.offset()
                self._caught_up[tp] = event.offset()
            return
        if error.fatal():
            raise KafkaException(error)
        # Transient (broker down, topic not there yet): librdkafka retries by itself.

    def _all_caught_up(self) -> bool:
        ends = self._log.appended_ends
        wire = self._log.wire_name
        return all(self._caught_up.get(tp, -1) >= ends.get((wire(tp[0]), tp[1]), 0)
                   for tp in self._assigned if tp not in self._paused)

    def pause(self, partitions) -> None:
        wanted = {tp for tp in partitions if tp in self._assigned} - self._paused
        if wanted:
            self._consumer.pause(self._wire_partitions(wanted))
            self._paused |= wanted

    def resume(self, partitions) -> None:
        wanted = {tp for tp in partitions if tp in self._paused}
        if wanted:
            self._paused -= wanted
            self._consumer.resume(self._wire_partitions(wanted & self._assigned))

    def _wire_partitions(self, partitions: set[TP]) -> list[TopicPartition]:
        return [TopicPartition(self._log.wire_name(t), p) for t, p in sorted(partitions)]

    def current_lag(self, topic: str, partition: int) -> Optional[int]:
        tp = (topic, partition)
        position = self._positions.get(tp)
        if position is None or tp not in self._assigned:
            return None
        if self._caught_up.get(tp, -1) >= position:
            return 0
        watermarks = self._consumer.get_watermark_offsets(
            TopicPartition(self._log.wire_name(topic), partition), cached=True)
        if not watermarks or watermarks[1] < 0:
            return None
        return max(0, watermarks[1] - position)

    def current_assignment(self) -> list[TP]:
        """The partitions assigned now, without polling: no rebalance callback can run, so the
        positions of a batch just returned but not yet processed are never committed by one."""
        return sorted(self._assigned)

    def group_metadata(self):
        """The group generation that a transaction's offsets are fenced with (EOS v2)."""
        return self._consumer.consumer_group_metadata()

    def consumed_positions(self) -> dict[TP, int]:
        """The next offset of every assigned partition this consumer has read from (no broker call:
        safe inside a rebalance callback)."""
        return {tp: offset for tp, offset in self._positions.items() if tp in self._assigned}

    # --- positions ---
    def seek(self, topic: str, partition: int, offset: int) -> None:
        self._await_join()
        tp = (topic, partition)
        if tp not in self._assigned:
            raise ValueError(f"{topic}-{partition} is not assigned to this consumer")
        end = self._log.end_offsets(topic)[partition]
        if offset > end:   # Kafka would reset it per auto.offset.reset: a silent skip or replay
            raise OffsetOutOfRangeError(topic, partition, offset, end)
        self._seek(tp, offset)
        self._positions[tp] = offset

    def _seek(self, tp: TP, offset: int) -> None:
        self._pending = [m for m in self._pending if self._tp(m) != tp]
        self._caught_up.pop(tp, None)
        target = TopicPartition(self._log.wire_name(tp[0]), tp[1], offset)
        try:
            self._consumer.seek(target)
        except KafkaException as error:
            if error.args[0].code() != KafkaError._STATE:
                raise
            # Just assigned, not fetching yet: assign again at the offset (a local change only).
            self._consumer.incremental_unassign([TopicPartition(target.topic, target.partition)])
            self._consumer.incremental_assign([target])

    def seek_to_beginning(self) -> None:
        self._await_join()
        starts = {topic: self._log.start_offsets(topic) for topic in {t for t, _ in self._assigned}}
        for tp in sorted(self._assigned):
            self._seek(tp, OFFSET_BEGINNING)
            self._positions[tp] = starts[tp[0]][tp[1]]

    def seek_to_timestamp(self, timestamp_ms: int) -> None:
        self._await_join()
        for tp in sorted(self._assigned):
            offset = self._log.offset_for_timestamp(tp[0], tp[1], timestamp_ms)
            self._seek(tp, offset)
            self._positions[tp] = offset

    def position(self, topic: str, partition: int) -> int:
        self._await_join()
        tp = (topic, partition)
        if tp not in self._assigned:
            raise KeyError(f"{topic}-{partition} is not assigned to this consumer")
        if tp not in self._positions:  # nothing read yet: the committed offset, else the reset
            committed = self._committed([tp]).get(tp)
            if committed is None:
                ends = (self._log.start_offsets if self._auto_offset_reset == "earliest"
                        else self._log.end_offsets)(topic)
                committed = ends[partition]
            self._positions[tp] = committed
        return self._positions[tp]

    # --- commits ---
    def commit(self, offsets: Optional[dict[TP, int]] = None) -> None:
        self._check_open()
        offsets = dict(self._positions) if offsets is None else offsets
        if not offsets:
            return
        wire = self._log.wire_name
        try:
            self._consumer.commit(offsets=[TopicPartition(wire(t), p, o) for (t, p), o in offsets.items()],
                                  asynchronous=False)
        except KafkaException as error:
            if error.args[0].code() != KafkaError._NO_OFFSET:
                raise

    def committed(self) -> dict[TP, int]:
        self._check_open()
        partitions = [(topic, p) for topic in self._topics if self._log.topic_exists(topic)
                      for p in range(self._log.topic_config(topic).partitions)]
        return self._committed(partitions)

    def _committed(self, partitions: list[TP]) -> dict[TP, int]:
        if not partitions:
            return {}
        wire = self._log.wire_name
        result = self._consumer.committed([TopicPartition(wire(t), p) for t, p in partitions],
                                          timeout=self._log.timeout)
        return {(self._log.engine_name(tp.topic), tp.partition): tp.offset for tp in result if tp.offset >= 0}

    def close(self) -> None:
        """Leave the group: its partitions move to the other members."""
        if not self._closed:
            self._closed = True
            self._consumer.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"consumer of group {self.group!r} is closed")

