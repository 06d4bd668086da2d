"""What the Engine's methods return: statement results (ksqlDB REST entities), pull results,
push rows and records as the test harnesses see them; and `EngineView`, what the facade's
helper modules (pull queries, metadata statements, test records) read of the engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol

from pyksqlite.catalog.metastore import Catalog
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.log.api import Log
from pyksqlite.runtime.query_task import Scheduler


class EngineView(Protocol):
    """The parts of an `Engine` that pull.py, metadata.py and records.py use."""
    catalog: Catalog
    log: Log
    properties: dict[str, Any]
    variables: dict[str, str]
    scheduler: Scheduler
    _processing_log: ProcessingLog

    def topic_names(self) -> list[str]: ...

    def explain_query(self, query_id: str) -> str: ...


@dataclass
class StatementResult:
    """The outcome of one statement: a ksqlDB REST entity (`entity["@type"]` names its kind)."""
    statement_text: str
    entity: dict[str, Any]


@dataclass
class QueryColumn:
    name: str
    type: str          # SQL type text, e.g. "BIGINT", "STRUCT<`F1` STRING>"
    is_key: bool = False


@dataclass
class TestRecord:
    """A record as QTT and PRINT see it: key and value decoded to JSON-like Python values with the
    topic's formats (a JSON value is a dict, DELIMITED a str, KAFKA a number/str...)."""
    __test__ = False  # not a pytest test class

    topic: str
    key: Any = None
    value: Any = None
    timestamp: int = 0
    partition: int = 0
    offset: int = 0
    headers: Optional[list[dict[str, Any]]] = None   # [{"KEY": str, "VALUE": base64 str}]
    window: Optional[dict[str, Any]] = None          # {"start", "end", "type": "time"|"session"}


@dataclass
class PullResult:
    query_id: str
    columns: list[QueryColumn]
    rows: list[list[Any]]
    on_stream: bool = False   # ksqlDB answers a stream's pull query like a push query that ends
    limit_reached: bool = False


@dataclass
class PushRow:
    values: list[Any]
    tombstone: bool = False
