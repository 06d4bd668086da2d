"""The processing log: records skipped because they could not be deserialized, evaluated or
serialized (ksqlDB's KSQL_PROCESSING_LOG). Queries keep running; the entries say what and why."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Optional

logger = logging.getLogger("ksqlite.processing")


class ProcessingLog:
    def __init__(self, capacity: int = 10_000):
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def record(self, query_id: Optional[str], kind: str, message: str, **details: Any) -> None:
        entry = {"time": int(time.time() * 1000), "query": query_id, "type": kind,
                 "message": message, **details}
        with self._lock:
            self._entries.append(entry)
        logger.warning("%s %s: %s", query_id or "-", kind, message)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)
