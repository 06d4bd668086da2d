"""Kafka transactions for exactly-once processing (`processing.guarantee=exactly_once_v2`).

A `KafkaTransaction` is one transactional producer (one per query task, as Kafka Streams' EOS v2
has one per stream thread). While a task processes records inside `KafkaLog.transactional(txn)`,
every `append` of that thread goes into the open transaction instead of the log's shared
producer; `commit` adds the consumed offsets (`send_offsets_to_transaction`, fenced by the
consumer group's generation) and commits outputs, state snapshots and offsets atomically. A process
killed mid-transaction leaves it open until `transaction.timeout.ms` passes; the broker then
aborts it, and read-committed consumers never see its records.
"""
from __future__ import annotations

import json
import uuid
from typing import Optional, Protocol

from confluent_kafka import KafkaException, Producer, TopicPartition



class TransactionLog(Protocol):
    """What a transaction needs of its log (the `KafkaLog` it writes to)."""
    timeout: float

    def wire_name(self, name: str) -> str: ...

    def note_appended(self, touched: set[tuple[str, int]]) -> None: ...

TRANSACTION_TIMEOUT_MS = 10_000   # how long a killed process's open transaction blocks readers


class KafkaTransaction:
    """A transactional producer and its current transaction (begun lazily by the first append)."""

    def __init__(self, log: TransactionLog, name: str, producer_config: dict):
        self.log = log
        self.transactional_id = f"{log.wire_name(name)}-{uuid.uuid4().hex[:12]}"
        self.producer = Producer({**producer_config, "transactional.id": self.transactional_id,
                                  "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS})
        self.producer.init_transactions(log.timeout)
        self.open = False
        self.touched: set[tuple[str, int]] = set()   # (topic on the broker, partition) written

    def begin(self) -> None:
        if not self.open:
            self.producer.begin_transaction()
            self.open = True

    def produce(self, wire: str, keys: list, values: list, partitions: list, timestamps: list,
                headers: Optional[list]) -> None:
        self.begin()
        produce = self.producer.produce
        rows = zip(keys, values, partitions, timestamps, headers or [None] * len(keys))
        for key, value, partition, timestamp, header in rows:
            try:
                produce(wire, value, key, partition, timestamp=timestamp, headers=header)
            except BufferError:  # the local queue is full: let it drain
                self.producer.poll(0.1)
                produce(wire, value, key, partition, timestamp=timestamp, headers=header)
        self.touched.update((wire, p) for p in set(partitions))

    def commit(self, offsets: dict[tuple[str, int], int], consumer, metadata: Optional[dict] = None) -> None:
        """Commit everything appended since `begin` together with the consumed `offsets` (and
        `metadata`, as the offsets' metadata string: Kafka's OffsetAndMetadata)."""
        if not self.open and not offsets:
            return
        self.begin()
        if offsets:
            wire = self.log.wire_name
            extra = {"metadata": json.dumps(metadata)} if metadata is not None else {}
            self.producer.send_offsets_to_transaction(
                [TopicPartition(wire(t), p, o, **extra) for (t, p), o in offsets.items()],
                consumer.group_metadata(), self.log.timeout)
        self.producer.commit_transaction(self.log.timeout)
        self.open = False
        touched, self.touched = self.touched, set()
        self.log.note_appended(touched)

    def abort(self) -> None:
        if self.open:
            try:
                self.producer.abort_transaction(self.log.timeout)
            except KafkaException:
                pass   # fenced or timed out: the broker aborts it anyway
            self.open = False
            self.touched = set()

    def close(self) -> None:
        self.abort()
        self.producer.flush(self.log.timeout)
