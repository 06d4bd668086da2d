"""The Engine facade: the one door the shell (REPL, server, runners) and the tests use.

    engine = Engine(data_dir)                       # embedded log under data_dir
    results = engine.execute("CREATE STREAM ...; CREATE STREAM x AS SELECT ...;")
    engine.run_until_idle()                         # drive persistent queries until inputs drain
    for row in engine.push_query("SELECT * FROM x EMIT CHANGES LIMIT 3;"): ...
    engine.close()

Statement results are ksqlDB REST entities (dicts with "@type"), so the server returns them as
they are and the REPL renders them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Optional


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


@dataclass
class PushRow:
    values: list[Any]
    tombstone: bool = False


class PushQuery:
    """A running transient push query. Iterate for rows (blocks until the next row arrives or
    the query ends at its LIMIT); `close()` stops it. `columns` is the header schema."""
    query_id: str
    columns: list[QueryColumn]

    def __iter__(self) -> Iterator[PushRow]: ...
    def poll(self, timeout: float = 0.0) -> list[PushRow]:
        """Rows produced so far (waiting up to `timeout` seconds for the first one)."""
    @property
    def done(self) -> bool: ...
    def close(self) -> None: ...


class Engine:
    """A ksqlite engine over a log (the embedded one under `data_dir` by default).

    Public API (used by shell/ and tests; nothing else is):
      execute(sql, properties=None, variables=None) -> list[StatementResult]
          Runs every statement in `sql` in order. Raises engine.errors.KsqlException on the first
          statement that fails (statements before it have run; `exc.results` lists their results).
          A SELECT in `sql` is run as a pull query (or, with EMIT, rejected: use push_query).
      push_query(sql, properties=None) -> PushQuery
      pull_query(sql, properties=None) -> PullResult
      run_until_idle(timeout=None) -> None
          Processes input on every persistent query until no query can make progress.
      start() / close()
          Background threads that keep persistent queries running / stop them and close the log.
      create_topic(name, partitions=1, **config), topic_names()
      produce_test_records(records: list[TestRecord]) -> None
          Encode records with the formats of the source registered on each record's topic (or
          `formats` given for unknown topics) and append them (partition per the key).
      read_topic_records(topic) -> list[TestRecord]
          Every record of a topic, decoded with the formats of the source on it (the sink).
      describe_source(name) -> dict     (ksqlDB's sourceDescription entity)
      processing_log() -> list[dict]    (records skipped: what and why)
      properties (dict): the session's properties (SET/UNSET change them)
    """
