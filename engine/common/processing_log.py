"""The processing log: records skipped because they could not be deserialized, evaluated or
serialized (ksqlDB's processing log). Queries keep running; the entries say what and why.

Entries are kept in memory for the REST API and the shell, and, when the service is configured
to (`ksql.logging.processing.topic.auto.create` or `ksql.logging.processing.stream.auto.create`),
also written to the processing-log topic (`ksql.logging.processing.topic.name`, by default
`<service id>ksql_processing_log`) as ksqlDB writes them: JSON records of `logger`, `level`,
`time` and a `message` struct whose `type` says which of its error structs is set
(0 deserializationError, 1 recordProcessingError, 2 productionError, 3 serializationError,
4 kafkaStreamsThreadError). `ksql.logging.processing.stream.auto.create` also declares the
stream `KSQL_PROCESSING_LOG` (`ksql.logging.processing.stream.name`) over that topic, which
users query and PRINT. Entries reach the topic in appends of many at a time: when enough wait,
a moment after the first one (a background flusher), and whenever the engine runs until idle.
"""
from __future__ import annotations

import base64
import logging
import threading
import time
from collections import deque
from typing import Any, Callable, Optional

import orjson
import pyarrow as pa

logger = logging.getLogger("ksqlite.processing")

DESERIALIZATION_ERROR, RECORD_PROCESSING_ERROR, PRODUCTION_ERROR, SERIALIZATION_ERROR = 0, 1, 2, 3
KAFKA_STREAMS_THREAD_ERROR = 4
# Our entry kinds as ksqlDB's message types; other kinds (state, command topic) stay in memory.
_MESSAGE_TYPES = {"DESERIALIZATION_ERROR": DESERIALIZATION_ERROR, "RECORD_PROCESSING_ERROR": RECORD_PROCESSING_ERROR,
                  "TIMESTAMP_EXTRACTION": RECORD_PROCESSING_ERROR, "PRODUCTION_ERROR": PRODUCTION_ERROR,
                  "SERIALIZATION_ERROR": SERIALIZATION_ERROR}
_ERROR_FIELDS = ("deserializationError", "recordProcessingError", "productionError", "serializationError",
                 "kafkaStreamsThreadError")
_LOGGER_STEPS = {DESERIALIZATION_ERROR: "KsqlTopic.Source.deserializer", RECORD_PROCESSING_ERROR: "Project",
                 PRODUCTION_ERROR: "Sink.producer", SERIALIZATION_ERROR: "Sink.serializer"}

MESSAGE_TYPE_SQL = (
    "STRUCT<type INT, "
    "deserializationError STRUCT<target VARCHAR, errorMessage VARCHAR, recordB64 VARCHAR, cause ARRAY<VARCHAR>, `topic` VARCHAR>, "
    "recordProcessingError STRUCT<errorMessage VARCHAR, record VARCHAR, cause ARRAY<VARCHAR>>, "
    "productionError STRUCT<errorMessage VARCHAR>, "
    "serializationError STRUCT<target VARCHAR, errorMessage VARCHAR, record VARCHAR, cause ARRAY<VARCHAR>, `topic` VARCHAR>, "
    "kafkaStreamsThreadError STRUCT<errorMessage VARCHAR, threadName VARCHAR, cause ARRAY<VARCHAR>>>")
FLUSH_AFTER_SECONDS = 0.2
FLUSH_AT_ENTRIES = 1000


def stream_statement(stream: str, topic: str) -> str:
    """ksqlDB's statement declaring the processing-log stream (the name unquoted, as ksqlDB
    writes it into the statement, so upper-cased when it is a plain identifier)."""
    from pyksqlite.grammar.formatter import format_identifier, format_string
    return (f"CREATE STREAM IF NOT EXISTS {format_identifier(stream.upper())} (logger VARCHAR, level VARCHAR, "
            f"time BIGINT, message {MESSAGE_TYPE_SQL}) WITH (KAFKA_TOPIC={format_string(topic)}, "
            "VALUE_FORMAT='JSON');")


class ProcessingLog:
    def __init__(self, capacity: int = 10_000):
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._pending: list[tuple[int, bytes]] = []
        self._writer: Optional[Callable[[pa.Table], None]] = None
        self._include_rows = False
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()

    def record(self, query_id: Optional[str], kind: str, message: str, **details: Any) -> None:
        now = int(time.time() * 1000)
        entry = {"time": now, "query": query_id, "type": kind, "message": message,
                 **{k: v for k, v in details.items() if k != "record"}}
        topic_record = self._topic_record(query_id, kind, message, now, details) if self._writer else None
        with self._lock:
            self._entries.append(entry)
            if topic_record is not None:
                self._pending.append((now, topic_record))
                if len(self._pending) == 1 or len(self._pending) >= FLUSH_AT_ENTRIES:
                    self._wake.set()
        logger.warning("%s %s: %s", query_id or "-", kind, message)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    # ---- the processing-log topic ------------------------------------------------------------
    def write_to(self, append: Callable[[pa.Array, pa.Array], None], include_rows: bool = False) -> None:
        """Write entries from now on with `append(values, timestamps)` (two Arrow arrays: the
        records' JSON values and their timestamps),
        from a background flusher and on `flush()`."""
        self._writer = append
        self._include_rows = include_rows
        threading.Thread(target=self._flush_in_background, name="ksqlite-processing-log", daemon=True).start()

    def flush(self) -> int:
        """Write the entries waiting for the topic; how many were written."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, []
            if not pending or self._writer is None:
                return 0
            values = pa.array([value for _, value in pending], pa.binary())
            timestamps = pa.array([at for at, _ in pending], pa.int64())
            try:
                self._writer(values, timestamps)
            except Exception:  # noqa: BLE001 - the entries stay in memory; queries go on
                logger.exception("could not write %d entries to the processing-log topic", len(pending))
                return 0
            return len(pending)

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        self.flush()

    def _flush_in_background(self) -> None:
        while not self._closed.is_set():
            self._wake.wait()
            if self._closed.is_set():
                return
            time.sleep(FLUSH_AFTER_SECONDS)   # gather the entries of the batch being processed
            self._wake.clear()
            self.flush()

    def _topic_record(self, query_id: Optional[str], kind: str, message: str, now: int,
                      details: dict[str, Any]) -> Optional[bytes]:
        message_type = _MESSAGE_TYPES.get(kind)
        if message_type is None:
            return None
        body: dict[str, Any] = {"type": message_type, **{name: None for name in _ERROR_FIELDS}}
        body[_ERROR_FIELDS[message_type]] = self._error_struct(message_type, message, details)
        step = _LOGGER_STEPS[message_type]
        return orjson.dumps({"logger": f"processing.{query_id or 'ksql'}.{step}", "level": "ERROR",
                             "time": now, "message": body})

    def _error_struct(self, message_type: int, message: str, details: dict[str, Any]) -> dict[str, Any]:
        record = details.get("record") if self._include_rows else None
        if message_type == DESERIALIZATION_ERROR:
            encoded = base64.b64encode(record).decode() if isinstance(record, bytes) else None
            return {"target": details.get("target", "value"), "errorMessage": message, "recordB64": encoded,
                    "cause": list(details.get("cause") or []), "topic": details.get("topic")}
        if message_type == RECORD_PROCESSING_ERROR:
            return {"errorMessage": message, "record": None if record is None else str(record),
                    "cause": list(details.get("cause") or [])}
        if message_type == SERIALIZATION_ERROR:
            return {"target": details.get("target", "value"), "errorMessage": message,
                    "record": None if record is None else str(record),
                    "cause": list(details.get("cause") or []), "topic": details.get("topic")}
        return {"errorMessage": message}
