"""What the embedded connectors get from the engine: the log, the schema registry, the catalog
(sinks decode a topic with the formats of the stream or table on it), the offsets store, and the
rules for paths a connector may read or write."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pyarrow as pa

from pyksqlite.catalog.ddl import Config
from pyksqlite.catalog.metastore import Catalog
from pyksqlite.connect.api import ConnectError
from pyksqlite.connect.offsets import OffsetStore
from pyksqlite.log.api import HEADER_TYPE, Log, TopicConfig

FILE_DIRS = "ksqlite.connect.file.dirs"


@dataclass
class WorkerContext:
    log: Log
    catalog: Catalog
    config: Config
    registry: Any = None
    registry_token: Optional[str] = None
    appended: Callable[[], None] = lambda: None        # wakes the queries after an append
    report: Callable[[str, str], None] = lambda connector, message: None  # the processing log
    _offsets: Optional[OffsetStore] = field(default=None, repr=False)

    @property
    def offsets(self) -> OffsetStore:
        if self._offsets is None:      # the internal topic is made when a source first needs it
            self._offsets = OffsetStore(self.log)
        return self._offsets

    def ensure_topic(self, topic: str, config: dict[str, str]) -> None:
        """Create `topic` if it is missing, as a broker's auto-creation or Connect's topic
        creation does (`topic.creation.default.partitions`, default 1)."""
        from pyksqlite.common.names import InvalidNameError, check_topic_name
        try:
            check_topic_name(topic)
        except InvalidNameError as error:
            raise ConnectError(400, error.message) from None
        if not self.log.topic_exists(topic):
            partitions = int(config.get("topic.creation.default.partitions", 1) or 1)
            self.log.create_topic(topic, TopicConfig(partitions=max(1, partitions)), exist_ok=True)

    def append(self, topic: str, keys: pa.Array, values: pa.Array, timestamp_ms: Optional[int] = None) -> None:
        now = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        count = len(values)
        self.log.append(topic, pa.table({
            "key": keys, "value": values, "timestamp": pa.array([now] * count, pa.int64()),
            "headers": pa.nulls(count, HEADER_TYPE)}))
        self.appended()

    def allowed_path(self, path: str, what: str) -> Path:
        """`path` resolved, if it lies in one of the directories connectors may use
        (`ksqlite.connect.file.dirs`, comma-separated; default: the working directory). A REST
        client must not make the server read or write any file it likes."""
        if not path or "\x00" in path:
            raise ConnectError(400, f"Invalid {what}: {path!r}")
        resolved = Path(path).expanduser().resolve()
        roots = [Path(p.strip()).expanduser().resolve()
                 for p in str(self.config.get(FILE_DIRS, "") or os.getcwd()).split(",") if p.strip()]
        if not any(resolved == root or root in resolved.parents for root in roots):
            raise ConnectError(400, f"The {what} {str(resolved)!r} is outside the directories connectors may "
                                    f"use ({', '.join(map(str, roots))}); set {FILE_DIRS} to allow it.")
        return resolved
