"""The command log: statements that changed the catalog, kept in an internal topic so that a
restart rebuilds the same catalog and resumes the same queries (ksqlDB's command topic)."""
from __future__ import annotations

import time

import orjson
import pyarrow as pa

from engine.log.api import HEADER_TYPE, Log, TopicConfig

COMMAND_TOPIC = "_ksqlite_command_log"


class CommandLog:
    def __init__(self, log: Log):
        self.log = log
        if not log.topic_exists(COMMAND_TOPIC):
            log.create_topic(COMMAND_TOPIC, TopicConfig(partitions=1, retention_ms=-1), exist_ok=True)

    def append(self, statement: str, properties: dict) -> None:
        entry = orjson.dumps({"statement": statement, "properties": _plain(properties)})
        self.log.append(COMMAND_TOPIC, pa.table({
            "key": pa.nulls(1, pa.binary()), "value": pa.array([entry], pa.binary()),
            "timestamp": pa.array([int(time.time() * 1000)], pa.int64()),
            "headers": pa.nulls(1, HEADER_TYPE)}), partition=0)

    def entries(self) -> list[dict]:
        out, offset = [], self.log.start_offsets(COMMAND_TOPIC)[0]
        end = self.log.end_offsets(COMMAND_TOPIC)[0]
        while offset < end:
            batch = self.log.read(COMMAND_TOPIC, 0, offset)
            if batch.num_rows == 0:
                break
            out.extend(orjson.loads(v) for v in batch.column("value").to_pylist())
            offset = batch.column("offset")[-1].as_py() + 1
        return out


def _plain(properties: dict) -> dict:
    return {k: v for k, v in properties.items() if isinstance(v, (str, int, float, bool)) or v is None}
