"""Source connectors' positions, kept durably in an internal topic as Kafka Connect keeps them in
its offsets topic: one record per (connector, source partition), key and value JSON
(`["name", {partition}]` -> `{offset}`), the latest record per key winning (the topic is
compacted). A source writes its records through the log's append and then its new position, so
after a crash it resumes from the last position written: at-least-once, as Kafka Connect's
sources are. DROP CONNECTOR writes tombstones: a connector created again under the same name
starts from the beginning.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional

import orjson
import pyarrow as pa

from pyksqlite.log.api import HEADER_TYPE, CorruptRecordError, Log, TopicConfig

OFFSETS_TOPIC = "_ksqlite-connect-offsets"
logger = logging.getLogger("ksqlite.connect")


class OffsetStore:
    def __init__(self, log: Log, topic: str = OFFSETS_TOPIC):
        self.log, self.topic = log, topic
        self._lock = threading.Lock()
        if not log.topic_exists(topic):
            log.create_topic(topic, TopicConfig(partitions=1, cleanup_policy="compact", retention_ms=-1),
                             exist_ok=True)
        self._offsets: dict[bytes, Any] = {}
        self._read_all()

    def _read_all(self) -> None:
        position = self.log.start_offsets(self.topic)[0]
        end = self.log.end_offsets(self.topic)[0]
        while position < end:
            try:
                batch = self.log.read(self.topic, 0, position)
            except CorruptRecordError as error:   # positions there are lost: those sources restart
                logger.error("connector offsets unreadable, skipped: %s", error)
                position = error.last_offset + 1
                continue
            if batch.num_rows == 0:
                break
            for key, value in zip(batch.column("key").to_pylist(), batch.column("value").to_pylist()):
                if value is None:
                    self._offsets.pop(key, None)
                else:
                    self._offsets[key] = orjson.loads(value)
            position = batch.column("offset")[-1].as_py() + 1

    def get(self, connector: str, partition: dict) -> Optional[Any]:
        with self._lock:
            return self._offsets.get(_key(connector, partition))

    def put(self, connector: str, partition: dict, offset: Any) -> None:
        self._write(_key(connector, partition), orjson.dumps(offset))

    def forget(self, connector: str) -> None:
        """Tombstones for every position of `connector`."""
        prefix = orjson.dumps([connector])[:-1] + b","
        with self._lock:
            keys = [key for key in self._offsets if key.startswith(prefix)]
        for key in keys:
            self._write(key, None)

    def _write(self, key: bytes, value: Optional[bytes]) -> None:
        with self._lock:
            self.log.append(self.topic, pa.table({
                "key": pa.array([key], pa.binary()), "value": pa.array([value], pa.binary()),
                "timestamp": pa.array([int(time.time() * 1000)], pa.int64()),
                "headers": pa.nulls(1, HEADER_TYPE)}), partition=0)
            if value is None:
                self._offsets.pop(key, None)
            else:
                self._offsets[key] = orjson.loads(value)


def _key(connector: str, partition: dict) -> bytes:
    return orjson.dumps([connector, partition], option=orjson.OPT_SORT_KEYS)
