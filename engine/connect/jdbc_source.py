"""The JDBC source connector (io.confluent.connect.jdbc.JdbcSourceConnector), embedded: rows of
database tables written to topics named `topic.prefix` + table.

Config, as Confluent's connector: `connection.url` (`pyksqlite.connect.jdbc`), `table.whitelist`
(comma-separated), `topic.prefix`, `mode` (bulk: the whole table each poll; incrementing: rows
whose `incrementing.column.name` is above the last one seen; timestamp: rows whose
`timestamp.column.name` is after the last one seen), `poll.interval.ms` (default 5000),
`batch.max.rows` (default 100), `value.format`/`value.converter` (default schemaless JSON).
The last value seen per table is the source's position (offsets topic): a restart goes on
after it. Records have no key.
"""
from __future__ import annotations

import datetime
import time
from typing import Any, Optional

import pyarrow as pa

from pyksqlite.common.schema import Column
from pyksqlite.common.types import from_arrow
from pyksqlite.connect.api import ConnectError
from pyksqlite.connect.context import WorkerContext
from pyksqlite.connect.formats import RecordWriter, format_of
from pyksqlite.connect.jdbc import dialect_for

_MODES = ("bulk", "incrementing", "timestamp")


class JdbcSource:
    def __init__(self, name: str, config: dict[str, str], context: WorkerContext):
        self.name, self.context, self.config = name, context, config
        self.dialect = dialect_for(config, context)
        self.tables = [t.strip() for t in (config.get("table.whitelist") or "").split(",") if t.strip()]
        if not self.tables:
            raise ConnectError(400, "The embedded JDBC source needs table.whitelist.")
        self.prefix = config.get("topic.prefix")
        if self.prefix is None:
            raise ConnectError(400, 'Missing required configuration "topic.prefix" which has no default value.')
        self.mode = (config.get("mode") or "").strip().lower()
        if self.mode not in _MODES:
            raise ConnectError(400, f"Invalid value {self.mode!r} for configuration mode: use one of {', '.join(_MODES)}.")
        self.column = {"incrementing": config.get("incrementing.column.name"),
                       "timestamp": config.get("timestamp.column.name")}.get(self.mode)
        if self.mode != "bulk" and not self.column:
            raise ConnectError(400, f"mode={self.mode} needs {self.mode}.column.name.")
        self.interval = max(0, int(config.get("poll.interval.ms") or 5000)) / 1000
        self.max_rows = max(1, int(config.get("batch.max.rows") or 100))
        self.value_format = format_of(config, "value", "JSON")
        self.connection = None
        self._next_poll = 0.0
        self._writers: dict[str, RecordWriter] = {}
        for table in self.tables:
            context.ensure_topic(self.prefix + table, config)

    def poll(self) -> int:
        if time.monotonic() < self._next_poll:
            return 0
        if self.connection is None:
            self.connection = self.dialect.connect()
        moved = sum(self._poll_table(table) for table in self.tables)
        if moved == 0 or self.mode == "bulk":
            self._next_poll = time.monotonic() + self.interval
        return moved

    def _poll_table(self, table: str) -> int:
        partition = {"table": table}
        stored = self.context.offsets.get(self.name, partition) if self.mode != "bulk" else None
        last = _from_json(stored.get(self.mode)) if stored else None
        cursor = self.dialect.begin(self.connection)
        try:
            if self.mode == "bulk" or last is None:
                sql = self.dialect.select(table, None, 2 ** 62) if self.mode == "bulk" else \
                    _first_rows(self.dialect, table, self.column, self.max_rows)
                cursor.execute(sql)
            else:
                cursor.execute(self.dialect.select(table, self.column, self.max_rows), (last,))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        finally:
            self.connection.rollback()          # a read: end its transaction
            if cursor is not self.connection:
                cursor.close()
        if not rows:
            return 0
        data = pa.table({name: pa.array([row[i] for row in rows]) for i, name in enumerate(names)})
        topic = self.prefix + table
        writer = self._writers.get(topic)
        if writer is None:
            columns = [Column(field.name, from_arrow(field.type)) for field in data.schema]
            writer = self._writers[topic] = RecordWriter(self.value_format, columns, False, topic,
                                                         self.context.registry, self.context.registry_token)
        data = data.cast(pa.schema([(c.name, _arrow(c)) for c in writer.columns]))
        self.context.append(topic, pa.nulls(data.num_rows, pa.binary()), writer.write(data))
        if self.mode != "bulk":
            self.context.offsets.put(self.name, partition, {self.mode: _to_json(rows[-1][names.index(self.column)])})
        return data.num_rows

    def pending(self) -> bool:
        return False

    def positions(self) -> dict:
        return {}

    def topics(self) -> list[str]:
        return [self.prefix + table for table in self.tables]

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def _first_rows(dialect, table: str, column: str, limit: int) -> str:
    from pyksqlite.common.duck import quote_identifier
    return (f"SELECT * FROM {quote_identifier(table)} ORDER BY {quote_identifier(column)} LIMIT {int(limit)}")


def _arrow(column: Column) -> pa.DataType:
    from pyksqlite.common.types import to_arrow
    return to_arrow(column.type)


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"date": value.isoformat()}
    return value


def _from_json(value: Any) -> Optional[Any]:
    if isinstance(value, dict) and "datetime" in value:
        return datetime.datetime.fromisoformat(value["datetime"])
    if isinstance(value, dict) and "date" in value:
        return datetime.date.fromisoformat(value["date"])
    return value
