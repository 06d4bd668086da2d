"""The log on Apache Kafka: the `Log` protocol on a real cluster, through confluent-kafka (librdkafka).

    log = KafkaLog("127.0.0.1:19092")                   # scripts/kafka-cluster.sh up 1
    engine = Engine(data_dir, log=log)                  # or Engine(..., bootstrap_servers=...)

- Topics: the AdminClient creates them with the TopicConfig as Kafka topic configs
  (cleanup.policy, retention.ms, retention.bytes, segment.bytes, delete.retention.ms, extras);
  retention and compaction are the broker's business, so `run_maintenance` does nothing.
- Producing: partitions are computed here, vectorized, with the embedded log's murmur2
  (`partitioner`), and passed explicitly, so a key lands in the same partition on both logs (and
  where a Java producer would put it). `append` returns once every record is acknowledged
  (acks=all, idempotent producer); delivery errors are reported only on failure, so the success
  path has no Python callback per record.
- Reading: `consumer` joins a Kafka consumer group (`kafka_consumer`); `read` assigns one reusable
  group-less consumer to the partition; offsets and timestamps come from ListOffsets.
- `topic_prefix` puts every topic and group of this log under a prefix on the broker (and hides
  it from the engine): separate engines (QTT cases, tests) share one cluster without seeing each
  other.
"""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
import time
import uuid
import weakref
from typing import Iterable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Consumer as RdConsumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, OffsetSpec

from pyksqlite.log.api import HEADER_TYPE, TopicConfig
from pyksqlite.log.kafka.consumer import KafkaGroupConsumer
from pyksqlite.log.kafka.transactions import KafkaTransaction
from pyksqlite.log.kafka.records import empty_batch, messages_to_batch, produce_headers
from pyksqlite.log.partitioner import partitions_for_keys

LEGAL_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
INTERNAL_TOPICS = ("__consumer_offsets", "__transaction_state", "__cluster_metadata")
# What a partition answers while its leadership settles (just created, or a broker moved).
SETTLING_ERRORS = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.UNKNOWN_LEADER_EPOCH,
                   KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART,
                   KafkaError.FENCED_LEADER_EPOCH)
PRODUCER_CONFIG = {
    "acks": "all",
    "enable.idempotence": True,          # retries keep each partition's order
    "linger.ms": 5,                      # append flushes at its end, so this only shapes batches
    "batch.num.messages": 100_000,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "delivery.report.only.error": True,  # no Python callback per delivered record
}


class KafkaLog:
    """An implementation of the `Log` protocol on an Apache Kafka cluster."""

    distributed = True   # shared by processes: queries run as partition tasks (engine.partitioned)

    def __init__(self, bootstrap_servers: str, topic_prefix: str = "", replication_factor: int = -1,
                 timeout: float = 30.0, producer_config: Optional[dict] = None,
                 consumer_config: Optional[dict] = None, client_config: Optional[dict] = None,
                 delete_topics_on_close: bool = False):
        self.bootstrap_servers = bootstrap_servers
        self.delete_topics_on_close = delete_topics_on_close   # a scratch log (a QTT case)
        self.topic_prefix = topic_prefix
        self.timeout = timeout
        self.replication_factor = replication_factor   # -1: the broker's default.replication.factor
        self.client_config = {"bootstrap.servers": bootstrap_servers, **(client_config or {})}
        self.consumer_config = dict(consumer_config or {})
        # (topic on the broker, partition) -> the end offset after this process's latest append
        # there; consumers compare it with where they saw the partition end (see kafka_consumer).
        self.appended_ends: dict[tuple[str, int], int] = {}
        self.engine_names: dict[str, str] = {}
        self._admin = AdminClient(self.client_config)
        self._producer_overrides = dict(producer_config or {})
        self._scope = threading.local()    # .transaction: where this thread's appends go
        self._producer = Producer({**self.client_config, **PRODUCER_CONFIG, **(producer_config or {}),
                                   "on_delivery": self._on_delivery_error})
        self._delivery_errors: list = []
        self._configs: dict[str, TopicConfig] = {}
        self._round_robin: dict[str, int] = {}
        self._reader: Optional[RdConsumer] = None
        self._reader_lock = threading.Lock()
        self._produce_lock = threading.Lock()
        self._consumers: "weakref.WeakSet[KafkaGroupConsumer]" = weakref.WeakSet()
        self._admin.list_topics(timeout=timeout)  # fail now if no broker answers

    # --- names on the broker ---
    def wire_name(self, name: str) -> str:
        return self.topic_prefix + name

    def engine_name(self, wire: str) -> str:
        if self.topic_prefix and wire.startswith(self.topic_prefix):
            return wire[len(self.topic_prefix):]
        return wire

    # --- admin ---
    def create_topic(self, name: str, config: TopicConfig = TopicConfig(), exist_ok: bool = False) -> None:
        if not LEGAL_TOPIC_NAME.fullmatch(name) or name in (".", ".."):
            raise ValueError(f"illegal topic name {name!r}: use 1-249 of [A-Za-z0-9._-]")
        if config.partitions < 1:
            raise ValueError(f"topic {name!r} needs at least one partition")
        wire = self.wire_name(name)
        new_topic = NewTopic(wire, num_partitions=config.partitions,
                             replication_factor=self.replication_factor, config=topic_configs(config))
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self._admin.create_topics([new_topic], operation_timeout=self.timeout)[wire].result()
                break
            except KafkaException as error:
                code = error.args[0].code()
                if code != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise ValueError(f"cannot create topic {name!r}: {error.args[0].str()}") from None
                if exist_ok:
                    return
                if not self._marked_for_deletion(wire) or time.monotonic() > deadline:
                    raise ValueError(f"topic {name!r} already exists") from None
                time.sleep(0.1)
        self._configs[name] = config
        self.engine_names[wire] = name
        self._await_metadata(wire, config.partitions)

    def _marked_for_deletion(self, wire: str) -> bool:
        """A topic just deleted may still exist for a moment; it no longer shows in metadata."""
        return wire not in self._admin.list_topics(timeout=self.timeout).topics

    def _await_metadata(self, wire: str, partitions: int) -> None:
        """Wait until every partition has a leader, so producing and ListOffsets work at once."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            topic = self._producer.list_topics(topic=wire, timeout=self.timeout).topics.get(wire)
            if topic is not None and topic.error is None and len(topic.partitions) == partitions and \
                    all(p.leader >= 0 and p.error is None for p in topic.partitions.values()):
                return
            time.sleep(0.05)
        raise TimeoutError(f"topic {wire!r} has no leaders after {self.timeout}s")

    def delete_topic(self, name: str) -> None:
        wire = self.wire_name(name)
        try:
            self._admin.delete_topics([wire], operation_timeout=self.timeout)[wire].result()
        except KafkaException as error:
            if error.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise KeyError(f"topic {name!r} does not exist") from None
            raise
        self._configs.pop(name, None)
        self._round_robin.pop(name, None)
        # Brokers learn of the deletion one by one, and a metadata request goes to any of them:
        # wait until several answers in a row no longer list the topic.
        deadline, absent = time.monotonic() + self.timeout, 0
        while absent < 5 and time.monotonic() < deadline:
            gone = wire not in self._admin.list_topics(timeout=self.timeout).topics
            absent = absent + 1 if gone else 0
            if not gone:
                time.sleep(0.05)

    def topic_exists(self, name: str) -> bool:
        if name in self._configs:
            return True
        return self.wire_name(name) in self._admin.list_topics(timeout=self.timeout).topics

    def list_topics(self) -> list[str]:
        names = self._admin.list_topics(timeout=self.timeout).topics
        prefix = self.topic_prefix
        return sorted(self.engine_name(t) for t in names
                      if t.startswith(prefix) and t not in INTERNAL_TOPICS)

    def topic_config(self, name: str) -> TopicConfig:
        config = self._configs.get(name)
        if config is None:
            config = self._configs[name] = self._describe(name)
            self.engine_names[self.wire_name(name)] = name
        return config

    def _describe(self, name: str) -> TopicConfig:
        wire = self.wire_name(name)
        topic = self._admin.list_topics(topic=wire, timeout=self.timeout).topics.get(wire)
        if topic is None or topic.error is not None:
            raise KeyError(f"topic {name!r} does not exist")
        resource = ConfigResource(ConfigResource.Type.TOPIC, wire)
        entries = self._admin.describe_configs([resource])[resource].result()
        values = {key: entry.value for key, entry in entries.items()}
        defaults = TopicConfig()
        return TopicConfig(
            partitions=len(topic.partitions),
            cleanup_policy=values.get("cleanup.policy", defaults.cleanup_policy),
            retention_ms=int(values.get("retention.ms", defaults.retention_ms)),
            retention_bytes=int(values.get("retention.bytes", defaults.retention_bytes)),
            segment_bytes=int(values.get("segment.bytes", defaults.segment_bytes)),
            delete_retention_ms=int(values.get("delete.retention.ms", defaults.delete_retention_ms)),
        )

    # --- produce ---
    def append(self, topic: str, records: pa.RecordBatch | pa.Table,
               partition: Optional[int] | pa.Array = None) -> None:
        count = self.topic_config(topic).partitions
        n = records.num_rows
        if n == 0:
            return
        keys = _column(records, "key", pa.binary())
        values = _column(records, "value", pa.binary())
        timestamps = _timestamps(records, n)
        headers = produce_headers(_column(records, "headers", HEADER_TYPE), timestamps)
        destinations = self._destinations(topic, keys, count, partition, n)
        wire = self.wire_name(topic)
        transaction = getattr(self._scope, "transaction", None)
        if transaction is not None:   # visible when the transaction commits
            transaction.produce(wire, keys.to_pylist(), values.to_pylist(), destinations.tolist(),
                                timestamps.tolist(), headers)
            return
        with self._produce_lock:
            self._produce(wire, keys.to_pylist(), values.to_pylist(), destinations.tolist(),
                          timestamps.tolist(), headers)
            self._flush()
        self.note_appended({(wire, p) for p in np.unique(destinations).tolist()})

    def note_appended(self, touched: set[tuple[str, int]]) -> None:
        """Record where the partitions just written end: a consumer of this process is caught up
        with a partition only once it has reached that offset (see kafka_consumer)."""
        by_topic: dict[str, list[int]] = {}
        for wire, p in touched:
            by_topic.setdefault(wire, []).append(p)
        for wire, partitions in by_topic.items():
            topic = self.engine_name(wire)
            for p, end in zip(partitions, self._list_offsets(topic, OffsetSpec.latest(), partitions)):
                if end > self.appended_ends.get((wire, p), 0):
                    self.appended_ends[(wire, p)] = end

    # --- transactions (exactly-once) ---
    def transaction(self, name: str) -> KafkaTransaction:
        """A transactional producer for one task (`name`: its consumer group)."""
        return KafkaTransaction(self, name, {**self.client_config, **PRODUCER_CONFIG,
                                             **self._producer_overrides})

    @contextmanager
    def transactional(self, transaction: Optional[KafkaTransaction]):
        """Appends of this thread go into `transaction` inside the block (None: no change)."""
        previous = getattr(self._scope, "transaction", None)
        self._scope.transaction = transaction if transaction is not None else previous
        try:
            yield
        finally:
            self._scope.transaction = previous

    def _destinations(self, topic: str, keys: pa.Array, count: int, partition, n: int) -> np.ndarray:
        if isinstance(partition, (int, np.integer)):
            if not 0 <= int(partition) < count:
                raise ValueError(f"topic {topic!r} has no partition {partition}")
            return np.full(n, int(partition), dtype=np.int32)
        if partition is None:
            start = self._round_robin.get(topic, 0)
            destinations = partitions_for_keys(keys, count, start)
            self._round_robin[topic] = start + keys.null_count
            return destinations
        destinations = np.asarray(pa.array(partition).to_numpy(zero_copy_only=False), dtype=np.int32)
        if len(destinations) != n:
            raise ValueError("one partition per record is needed")
        if destinations.size and (destinations.min() < 0 or destinations.max() >= count):
            raise ValueError(f"topic {topic!r} has {count} partitions")
        return destinations

    def _produce(self, wire: str, keys: list, values: list, partitions: list, timestamps: list,
                 headers: Optional[list]) -> None:
        produce = self._producer.produce
        if headers is None:
            for key, value, partition, timestamp in zip(keys, values, partitions, timestamps):
                try:
                    produce(wire, value, key, partition, timestamp=timestamp)
                except BufferError:  # the local queue is full: let it drain
                    self._producer.poll(0.1)
                    produce(wire, value, key, partition, timestamp=timestamp)
        else:
            for key, value, partition, timestamp, header in zip(keys, values, partitions, timestamps, headers):
                try:
                    produce(wire, value, key, partition, timestamp=timestamp, headers=header)
                except BufferError:
                    self._producer.poll(0.1)
                    produce(wire, value, key, partition, timestamp=timestamp, headers=header)

    def _flush(self) -> None:
        remaining = self._producer.flush(self.timeout)
        errors, self._delivery_errors = self._delivery_errors, []
        if errors:
            raise KafkaException(errors[0])
        if remaining:
            raise TimeoutError(f"{remaining} records not acknowledged after {self.timeout}s")

    def _on_delivery_error(self, error, message) -> None:
        if error is not None:
            self._delivery_errors.append(error)

    # --- read ---
    def start_offsets(self, topic: str) -> list[int]:
        return self._list_offsets(topic, OffsetSpec.earliest())

    def end_offsets(self, topic: str) -> list[int]:
        return self._list_offsets(topic, OffsetSpec.latest())

    def _list_offsets(self, topic: str, spec: OffsetSpec, partitions: Optional[list[int]] = None) -> list[int]:
        wire = self.wire_name(topic)
        if partitions is None:
            partitions = list(range(self.topic_config(topic).partitions))
        deadline = time.monotonic() + self.timeout
        while True:
            futures = self._admin.list_offsets({TopicPartition(wire, p): spec for p in partitions},
                                               request_timeout=self.timeout)
            try:
                by_partition = {tp.partition: future.result().offset for tp, future in futures.items()}
                return [by_partition[p] for p in partitions]
            except KafkaException as error:
                # A partition just created or moved: its leader is still settling.
                settling = error.args[0].retriable() or error.args[0].code() in SETTLING_ERRORS
                if not settling or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def read(self, topic: str, partition: int, offset: int, max_records: int = 100_000) -> pa.RecordBatch:
        count = self.topic_config(topic).partitions
        if not 0 <= partition < count:
            raise ValueError(f"topic {topic!r} has no partition {partition}")
        wire = self.wire_name(topic)
        with self._reader_lock:
            reader = self._reader_consumer()
            low, high = reader.get_watermark_offsets(TopicPartition(wire, partition), timeout=self.timeout,
                                                     cached=False)
            start = max(offset, low)
            if start >= high:
                return empty_batch()
            reader.assign([TopicPartition(wire, partition, start)])
            try:
                return self._read_assigned(reader, high, max_records)
            finally:
                reader.unassign()

    def _read_assigned(self, reader: RdConsumer, high: int, max_records: int) -> pa.RecordBatch:
        records: list = []
        deadline = time.monotonic() + self.timeout
        while len(records) < max_records:
            first = reader.poll(0.1)
            if first is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no records from offset {high} after {self.timeout}s")
                continue
            messages = [first] + reader.consume(max_records - len(records) - 1, 0) \
                if max_records - len(records) > 1 else [first]
            end_reached = False
            for message in messages:
                error = message.error()
                if error is None:
                    records.append(message)
                elif error.code() == KafkaError._PARTITION_EOF:
                    end_reached = True
                elif error.fatal():
                    raise KafkaException(error)
            if end_reached or (records and records[-1].offset() >= high - 1):
                break
        return messages_to_batch(records[:max_records], self.engine_names) if records else empty_batch()

    def _reader_consumer(self) -> RdConsumer:
        if self._reader is None:
            self._reader = RdConsumer({**self.client_config, "group.id": f"ksqlite-reader-{uuid.uuid4()}",
                                       "enable.auto.commit": False, "enable.partition.eof": True,
                                       "fetch.wait.max.ms": 50})
        return self._reader

    def offset_for_timestamp(self, topic: str, partition: int, timestamp_ms: int) -> int:
        offset = self._list_offsets(topic, OffsetSpec.for_timestamp(timestamp_ms), [partition])[0]
        return offset if offset >= 0 else self.end_offsets(topic)[partition]

    def consumer(self, group: str, topics: Iterable[str], auto_offset_reset: str = "earliest") -> KafkaGroupConsumer:
        topics = list(topics)
        for topic in topics:
            if self.topic_exists(topic):
                self.topic_config(topic)  # learn the engine name of its records' topic
        consumer = KafkaGroupConsumer(self, group, topics, auto_offset_reset, config=self.consumer_config)
        self._consumers.add(consumer)
        return consumer

    # --- maintenance ---
    def run_maintenance(self, now_ms: Optional[int] = None) -> None:
        """Nothing to do: the brokers apply retention and compaction per topic config."""

    def flush(self) -> None:
        with self._produce_lock:
            self._flush()

    def close(self) -> None:
        """Flush; this log's consumers leave their groups (and a scratch log deletes its topics)."""
        for consumer in list(self._consumers):
            consumer.close()
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        self._producer.flush(self.timeout)
        if self.delete_topics_on_close:
            self.delete_all_topics()

    def delete_all_topics(self) -> None:
        """Delete every topic under this log's prefix (a test or QTT case cleaning up after itself)."""
        wires = [self.wire_name(t) for t in self.list_topics()]
        if not wires:
            return
        for future in self._admin.delete_topics(wires, operation_timeout=self.timeout).values():
            try:
                future.result()
            except KafkaException:
                pass
        self._configs.clear()


def topic_configs(config: TopicConfig) -> dict[str, str]:
    """Kafka topic configs of a TopicConfig: the settings that differ from TopicConfig's defaults
    (which are Kafka's own defaults), plus the extras. A default is left to the broker's
    configuration, as ksqlDB leaves it when it creates a topic."""
    defaults = TopicConfig()
    configs = {name: str(getattr(config, field)) for field, name in TOPIC_CONFIG_NAMES.items()
               if getattr(config, field) != getattr(defaults, field)}
    configs.update((str(k), str(v)) for k, v in config.extra)
    return configs


TOPIC_CONFIG_NAMES = {"cleanup_policy": "cleanup.policy", "retention_ms": "retention.ms",
                      "retention_bytes": "retention.bytes", "segment_bytes": "segment.bytes",
                      "delete_retention_ms": "delete.retention.ms"}


def _column(records: pa.RecordBatch | pa.Table, name: str, type_: pa.DataType) -> pa.Array:
    if name not in records.schema.names:
        return pa.nulls(records.num_rows, type_)
    column = records.column(name)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column if column.type == type_ else column.cast(type_)


def _timestamps(records: pa.RecordBatch | pa.Table, n: int) -> np.ndarray:
    """Each record's timestamp; missing ones are now (as the embedded log does)."""
    if "timestamp" not in records.schema.names:
        return np.full(n, int(time.time() * 1000), dtype=np.int64)
    column = _column(records, "timestamp", pa.int64())
    if column.null_count:
        column = pc.fill_null(column, int(time.time() * 1000))
    return column.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
