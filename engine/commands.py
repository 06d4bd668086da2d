"""The command topic: statements that changed the catalog, kept in an internal topic so that a
restart rebuilds the same catalog and resumes the same queries (ksqlDB's command topic).

Its name is ksqlDB's, `_confluent-ksql-<ksql.service.id>_command_topic`: processes started with
the same service id on one Kafka cluster share it, so each replays the others' statements (in
topic order, which gives every process the same query ids) and runs its share of every query.
Each entry names the process that wrote it, so that a process following the topic skips its own.

Entries are read through the log's CRC checks. A damaged entry (or one that is not a command)
is never dropped in silence: it is logged as an error naming its offset and kept in `errors`,
and the entries around it are still read, so the engine starts with every catalog entry it
could read (statements depending on a lost one fail on replay, in the processing log).
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Optional

import orjson
import pyarrow as pa

from engine.log.api import HEADER_TYPE, CorruptRecordError, Log, TopicConfig

DEFAULT_SERVICE_ID = "default_"
logger = logging.getLogger("ksqlite.commands")


def command_topic_name(service_id: str) -> str:
    return f"_confluent-ksql-{service_id}_command_topic"


class CommandLog:
    def __init__(self, log: Log, service_id: str = DEFAULT_SERVICE_ID):
        self.log = log
        self.topic = command_topic_name(service_id)
        self.origin = uuid.uuid4().hex      # this process
        self.applied = 0                    # the offset after the last entry this process ran
        self.errors: list[str] = []         # entries that could not be read, one message each
        if not log.topic_exists(self.topic):
            log.create_topic(self.topic, TopicConfig(partitions=1, retention_ms=-1), exist_ok=True)

    def append(self, statement: str, properties: dict) -> None:
        entry = orjson.dumps({"statement": statement, "properties": _plain(properties),
                              "origin": self.origin})
        self.log.append(self.topic, pa.table({
            "key": pa.nulls(1, pa.binary()), "value": pa.array([entry], pa.binary()),
            "timestamp": pa.array([int(time.time() * 1000)], pa.int64()),
            "headers": pa.nulls(1, HEADER_TYPE)}), partition=0)

    def entries(self, start: Optional[int] = None) -> list[tuple[int, dict]]:
        """(offset, entry) of every command from `start` (default: the first) to the end."""
        out: list[tuple[int, dict]] = []
        offset = max(start or 0, self.log.start_offsets(self.topic)[0])
        end = self.log.end_offsets(self.topic)[0]
        while offset < end:
            try:
                batch = self.log.read(self.topic, 0, offset)
            except CorruptRecordError as error:
                self._report(error.offset, f"{error}; the commands there are skipped")
                offset = error.last_offset + 1
                continue
            if batch.num_rows == 0:
                break
            offsets = batch.column("offset").to_pylist()
            for at, value in zip(offsets, batch.column("value").to_pylist()):
                entry = self._decode(at, value)
                if entry is not None:
                    out.append((at, entry))
            offset = offsets[-1] + 1
        return out

    def _decode(self, offset: int, value: Optional[bytes]) -> Optional[dict]:
        try:
            entry = orjson.loads(value)
        except (orjson.JSONDecodeError, TypeError) as error:
            entry, reason = None, str(error)
        else:
            reason = "no statement in it"
        if isinstance(entry, dict) and isinstance(entry.get("statement"), str):
            return entry
        self._report(offset, f"the command at offset {offset} of the command topic "
                             f"'{self.topic}' cannot be read ({reason}); it is skipped")
        return None

    def _report(self, offset: int, message: str) -> None:
        if not any(m == message for m in self.errors):
            self.errors.append(message)
            logger.error("%s", message)

    def new_entries(self) -> list[tuple[int, dict]]:
        """Commands other processes appended since this one last looked."""
        if self.log.end_offsets(self.topic)[0] <= self.applied:
            return []
        fresh = self.entries(self.applied)
        if fresh:
            self.applied = fresh[-1][0] + 1
        return [(offset, entry) for offset, entry in fresh if entry.get("origin") != self.origin]


def _plain(properties: dict) -> dict:
    return {k: v for k, v in properties.items() if isinstance(v, (str, int, float, bool)) or v is None}
