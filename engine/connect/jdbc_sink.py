"""The JDBC sink connector (io.confluent.connect.jdbc.JdbcSinkConnector), embedded: the records
of `topics` written to database tables, so a ksqlDB table's changelog keeps a database table in
sync (`insert.mode=upsert`, `pk.mode=record_key`, `delete.enabled=true`: an update is an upsert,
a tombstone a delete).

Config, as Confluent's connector: `connection.url` (`pyksqlite.connect.jdbc`), `topics`,
`table.name.format` (default `${topic}`), `insert.mode` (insert | upsert), `pk.mode` (none |
kafka | record_key | record_value), `pk.fields`, `auto.create`, `delete.enabled`, `batch.size`.
Records are decoded with the formats and columns of the stream or table declared on their topic
(Confluent's connector needs schemas too). The sink reads through the consumer group
`connect-<name>` and commits after the database transaction of a batch has committed, so a crash
writes a batch again (upserts and deletes come out the same). Within a batch only the last
record of a key is written in upsert mode, in the topic's order.
"""
from __future__ import annotations

from typing import Any, Optional

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.catalog.metastore import DataSource
from pyksqlite.common.types import BIGINT, INTEGER, STRING, SqlType
from pyksqlite.connect.api import ConnectError
from pyksqlite.connect.context import WorkerContext
from pyksqlite.connect.jdbc import dialect_for
from pyksqlite.serde.factory import create_serde

_KAFKA_COLUMNS = [("__connect_topic", STRING), ("__connect_partition", INTEGER), ("__connect_offset", BIGINT)]


def _flag(config: dict[str, str], key: str, default: bool) -> bool:
    return str(config.get(key, default)).strip().lower() == "true"


class JdbcSink:
    def __init__(self, name: str, config: dict[str, str], context: WorkerContext):
        self.name, self.context = name, context
        self.dialect = dialect_for(config, context)
        self.topic_names = [t.strip() for t in (config.get("topics") or "").split(",") if t.strip()]
        if not self.topic_names:
            raise ConnectError(400, 'Missing required configuration "topics" which has no default value.')
        self.table_format = config.get("table.name.format") or "${topic}"
        self.insert_mode = (config.get("insert.mode") or "insert").strip().lower()
        self.pk_mode = (config.get("pk.mode") or "none").strip().lower()
        self.pk_fields = [f.strip() for f in (config.get("pk.fields") or "").split(",") if f.strip()]
        self.auto_create = _flag(config, "auto.create", False)
        self.delete_enabled = _flag(config, "delete.enabled", False)
        self.batch_size = int(config.get("batch.size") or 3000)
        if self.insert_mode not in ("insert", "upsert"):
            raise ConnectError(400, f"Invalid value {self.insert_mode} for configuration insert.mode: "
                                    "the embedded sink has insert and upsert.")
        if self.pk_mode not in ("none", "kafka", "record_key", "record_value"):
            raise ConnectError(400, f"Invalid value {self.pk_mode} for configuration pk.mode.")
        if self.insert_mode == "upsert" and self.pk_mode == "none":
            raise ConnectError(400, "insert.mode=upsert needs a primary key: set pk.mode.")
        if self.delete_enabled and self.pk_mode != "record_key":
            raise ConnectError(400, "Deletes are only supported for pk.mode record_key")
        if self.pk_mode == "record_value" and not self.pk_fields:
            raise ConnectError(400, "pk.mode=record_value needs pk.fields.")
        self.connection = None
        self.consumer = None
        self._tables: dict[str, tuple[str, list[tuple[str, SqlType]], list[str]]] = {}

    # ------------------------------------------------------------------ the task
    def poll(self) -> int:
        if self.consumer is None:
            if not all(self.context.log.topic_exists(t) for t in self.topic_names):
                return 0
            self.connection = self.dialect.connect()
            self.consumer = self.context.log.consumer(f"connect-{self.name}", self.topic_names,
                                                      auto_offset_reset="earliest")
        batch = self.consumer.poll(self.batch_size)
        if batch is None or batch.num_rows == 0:
            return 0
        records = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        for topic in pc.unique(records.column("topic")).to_pylist():
            self._write(topic, records.filter(pc.equal(records.column("topic"), topic)))
        self.consumer.commit()
        return records.num_rows

    def pending(self) -> bool:
        return False

    def positions(self) -> dict:
        if self.consumer is None:
            return {}
        return {tp: self.consumer.position(*tp) for tp in self.consumer.assignment()}

    def topics(self) -> list[str]:
        return list(self.topic_names)

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
        if self.connection is not None:
            self.connection.close()

    # ------------------------------------------------------------------ writing
    def _write(self, topic: str, records: pa.Table) -> None:
        source = self._source(topic)
        table, columns, keys = self._table(topic, source)
        good = self._decoded(source, records)
        if keys and (self.insert_mode == "upsert" or self.delete_enabled):
            good = _last_per_key(good, keys)
        tombstone = good.column("__tombstone")
        rows, tombstones = good.filter(pc.invert(tombstone)), good.filter(tombstone)
        names = [name for name, _ in columns]
        cursor = self.dialect.begin(self.connection)
        try:
            if tombstones.num_rows and self.delete_enabled:
                cursor.executemany(self.dialect.delete(table, keys), _parameters(tombstones, keys, columns))
            if rows.num_rows:
                sql = self.dialect.insert(table, names, keys if self.insert_mode == "upsert" else None)
                cursor.executemany(sql, _parameters(rows, names, columns))
            self.connection.commit()
        except Exception:
            self.connection.rollback()
            raise
        finally:
            if cursor is not self.connection:
                cursor.close()

    def _source(self, topic: str) -> DataSource:
        sources = self.context.catalog.sources_on_topic(topic)
        if not sources:
            raise ConnectError(400, f"The JDBC sink needs the schema of topic '{topic}': declare a stream or "
                                    "table on it (CREATE STREAM/TABLE ... WITH (kafka_topic=...)).")
        source = sources[0]
        if source.window is not None:
            raise ConnectError(400, f"Topic '{topic}' holds a windowed source ({source.name}): the embedded JDBC "
                                    "sink writes unwindowed streams and tables.")
        return source

    def _table(self, topic: str, source: DataSource):
        if topic in self._tables:
            return self._tables[topic]
        table = self.table_format.replace("${topic}", topic)
        key_columns = [(c.name, c.type) for c in source.schema.key_columns]
        value_columns = [(c.name, c.type) for c in source.schema.value_columns]
        if self.pk_mode == "kafka":
            columns, keys = _KAFKA_COLUMNS + value_columns, [n for n, _ in _KAFKA_COLUMNS]
        elif self.pk_mode == "record_key":
            if not key_columns:
                raise ConnectError(400, f"pk.mode=record_key but the records of '{topic}' have no key columns.")
            if self.pk_fields and len(self.pk_fields) != len(key_columns):
                raise ConnectError(400, f"pk.fields names {len(self.pk_fields)} columns; the key has {len(key_columns)}.")
            key_columns = [(self.pk_fields[i] if self.pk_fields else n, t) for i, (n, t) in enumerate(key_columns)]
            columns, keys = key_columns + value_columns, [n for n, _ in key_columns]
        elif self.pk_mode == "record_value":
            missing = [f for f in self.pk_fields if f not in dict(value_columns)]
            if missing:
                raise ConnectError(400, f"pk.fields {missing} are not value columns of '{topic}'.")
            columns, keys = key_columns + value_columns, list(self.pk_fields)
        else:
            columns, keys = key_columns + value_columns, []
        if self.auto_create:
            cursor = self.dialect.begin(self.connection)
            cursor.execute(self.dialect.create_table(table, columns, keys))
            self.connection.commit()
        self._tables[topic] = (table, columns, keys)
        return self._tables[topic]

    def _decoded(self, source: DataSource, records: pa.Table) -> pa.Table:
        """The records with the database table's columns, plus `__position` (order in the batch)
        and `__tombstone`; records that do not decode are reported and left out."""
        key_columns, value_columns = source.schema.key_columns, source.schema.value_columns
        _, columns, _ = self._tables[source.topic]
        names = [name for name, _ in columns]
        parts: dict[str, Any] = {}
        bad = pa.array([False] * records.num_rows)
        if key_columns:
            decoded = create_serde(source.key_format, key_columns, True).deserialize(
                records.column("key").combine_chunks())
            bad = self._report_errors(decoded.errors, bad, records, "key")
            for i, column in enumerate(key_columns):
                renamed = self.pk_fields[i] if self.pk_mode == "record_key" and self.pk_fields else column.name
                parts[renamed] = decoded.columns.column(i)
        value = records.column("value").combine_chunks()
        decoded = create_serde(source.value_format, value_columns, False).deserialize(value)
        bad = self._report_errors(decoded.errors, bad, records, "value")
        for i, column in enumerate(value_columns):
            parts[column.name] = decoded.columns.column(i)
        parts.update({"__connect_topic": records.column("topic"), "__connect_partition": records.column("partition"),
                      "__connect_offset": records.column("offset")})
        table = pa.table({**{name: parts[name] for name in names},
                          "__position": pa.array(range(records.num_rows), pa.int64()),
                          "__tombstone": pc.is_null(value)})
        return table.filter(pc.invert(bad))

    def _report_errors(self, errors: dict[int, str], bad: pa.Array, records: pa.Table, part: str) -> pa.Array:
        if not errors:
            return bad
        for row, reason in list(errors.items())[:100]:
            self.context.report(self.name, f"skipped a record of {records.column('topic')[row]} partition "
                                           f"{records.column('partition')[row]} offset {records.column('offset')[row]}: "
                                           f"its {part} does not decode: {reason}")
        mask = [False] * records.num_rows
        for row in errors:
            mask[row] = True
        return pc.or_(bad, pa.array(mask))


def _last_per_key(records: pa.Table, keys: list[str]) -> pa.Table:
    """Only the last record of each key, in batch order: an upsert followed by a tombstone is a
    delete, a tombstone followed by an upsert an upsert."""
    if records.num_rows < 2:
        return records
    last = records.group_by(keys, use_threads=False).aggregate([("__position", "max")])
    positions = pc.sort_indices(last.column("__position_max"))
    wanted = pc.take(last.column("__position_max"), positions)
    return records.filter(pc.is_in(records.column("__position"), value_set=wanted))


def _parameters(table: pa.Table, names: list[str], columns: list[tuple[str, SqlType]]) -> list[tuple]:
    """Rows as parameter tuples; ARRAY, MAP and STRUCT values as JSON text."""
    types = dict(columns)
    values = []
    for name in names:
        column = table.column(name).to_pylist()
        if types[name].base in ("ARRAY", "MAP", "STRUCT"):
            column = [None if v is None else orjson.dumps(_plain(v)).decode() for v in column]
        values.append(column)
    return list(zip(*values))


def _plain(value: Any) -> Any:
    if isinstance(value, list) and value and isinstance(value[0], tuple):   # an Arrow map
        return {k: _plain(v) for k, v in value}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
