"""The command topic: statements that changed the catalog, kept in an internal topic so that a
restart rebuilds the same catalog and resumes the same queries (ksqlDB's command topic).

Its name is ksqlDB's, `_confluent-ksql-<ksql.service.id>_command_topic`: processes started with
the same service id on one Kafka cluster share it, so each replays the others' statements (in
topic order, which gives every process the same query ids) and runs its share of every query.
Each entry names the process that wrote it, so that a process following the topic skips its own.

Entries are JSON (orjson), never code: {"statement": str, "properties": {str: scalar},
"origin": str}, read through the log's CRC checks. A damaged entry (or one that is not a command)
is never run and never dropped in silence: it is logged as an error naming its offset, kept in
`errors` and passed to the `report` hook, and the entries around it are still read, so the engine
starts with every catalog entry it could read (statements depending on a lost one fail on replay,
in the processing log).
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Callable, Optional

import orjson
import pyarrow as pa

from pyksqlite.common.errors import KsqlException
from pyksqlite.log.api import HEADER_TYPE, CorruptRecordError, Log, TopicConfig
from pyksqlite.common.names import InvalidNameError, check_topic_name

logger = logging.getLogger("ksqlite.commands")
DEFAULT_SERVICE_ID = "default_"


def command_topic_name(service_id: str) -> str:
    return f"_confluent-ksql-{service_id}_command_topic"


class CommandLog:
    def __init__(self, log: Log, service_id: str = DEFAULT_SERVICE_ID,
                 report: Optional[Callable[[str], None]] = None):
        self.log = log
        self.topic = command_topic_name(service_id)
        try:
            check_topic_name(self.topic)
        except InvalidNameError as error:
            raise KsqlException(f"Invalid ksql.service.id '{service_id}': its command topic name is not "
                                f"valid ({error.message})") from None
        self._report_hook = report
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
                self._report(f"{error}; the commands there are skipped")
                offset = error.last_offset + 1
                continue
            if batch.num_rows == 0:
                break
            offsets = batch.column("offset").to_pylist()
            for entry_offset, value in zip(offsets, batch.column("value").to_pylist()):
                entry = self._valid_entry(entry_offset, value)
                if entry is not None:
                    out.append((entry_offset, entry))
            offset = offsets[-1] + 1
        return out

    def _valid_entry(self, offset: int, value: Optional[bytes]) -> Optional[dict]:
        """The entry at `offset`, or None (reported) if it is not a command."""
        problem = _entry_problem(value)
        if problem is None:
            return orjson.loads(value)
        self._report(f"command topic {self.topic} offset {offset}: not a valid command ({problem}); "
                     "it was not run")
        return None

    def _report(self, message: str) -> None:
        if message in self.errors:   # read again by a later `entries`: reported once
            return
        self.errors.append(message)
        logger.error("%s", message)
        if self._report_hook is not None:
            self._report_hook(message)

    def new_entries(self) -> list[tuple[int, dict]]:
        """Commands other processes appended since this one last looked."""
        if self.log.end_offsets(self.topic)[0] <= self.applied:
            return []
        fresh = self.entries(self.applied)
        if fresh:
            self.applied = fresh[-1][0] + 1
        return [(offset, entry) for offset, entry in fresh if entry.get("origin") != self.origin]


def _entry_problem(value: Optional[bytes]) -> Optional[str]:
    if value is None:
        return "no value"
    try:
        entry = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        return f"not JSON: {error}"
    if not isinstance(entry, dict) or not isinstance(entry.get("statement"), str):
        return "no statement text"
    properties = entry.get("properties", {})
    if not isinstance(properties, dict) or not all(
            isinstance(v, (str, int, float, bool)) or v is None for v in properties.values()):
        return "properties are not a map of plain values"
    if not isinstance(entry.get("origin", ""), str):
        return "the origin is not a string"
    return None


def _plain(properties: dict) -> dict:
    return {k: v for k, v in properties.items() if isinstance(v, (str, int, float, bool)) or v is None}
