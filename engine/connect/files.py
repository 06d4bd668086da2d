"""Kafka's file connectors, embedded: FileStreamSource (`file`, `topic`: each new line of a file
becomes a record, as `tail -f` reads it) and FileStreamSink (`topics`, `file`: each record's
value becomes a line).

The source also reads structured files into a stream (ksqlite's options): `file.format=jsonl`
(each line a JSON object, written as it is) or `file.format=csv` (`csv.first.row.as.header`,
default true; `value.schema`, e.g. `ID INT, NAME STRING`, names and types the columns, else
the header's names as STRING columns), written in `value.format` (default JSON). Paths must lie
in a directory connectors may use (`ksqlite.connect.file.dirs`).

The source's position is the byte offset after the last whole line written (per file, in the
offsets topic); a line still being written (no newline yet) waits. The sink writes, flushes and
fsyncs the file before it commits the consumer group `connect-<name>`'s offsets.
"""
from __future__ import annotations

import io
import os
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pyksqlite.common.schema import Column
from pyksqlite.common.types import STRING, to_arrow
from pyksqlite.connect.api import ConnectError
from pyksqlite.connect.context import WorkerContext
from pyksqlite.connect.formats import RecordWriter, format_of

READ_BYTES = 1 << 20
_FORMATS = ("lines", "jsonl", "csv")


def _required(config: dict[str, str], key: str) -> str:
    value = (config.get(key) or "").strip()
    if not value:
        raise ConnectError(400, f'Missing required configuration "{key}" which has no default value.')
    return value


class FileSource:
    def __init__(self, name: str, config: dict[str, str], context: WorkerContext):
        self.name, self.context, self.config = name, context, config
        self.path = context.allowed_path(_required(config, "file"), "file")
        self.topic = _required(config, "topic")
        self.format = (config.get("file.format") or "lines").strip().lower()
        if self.format not in _FORMATS:
            raise ConnectError(400, f"Invalid file.format '{self.format}': use one of {', '.join(_FORMATS)}.")
        self.columns = _schema_columns(config.get("value.schema"))
        self.header = str(config.get("csv.first.row.as.header", "true")).lower() == "true"
        if self.format == "csv" and not self.header and not self.columns:
            raise ConnectError(400, "A CSV file without a header row needs value.schema.")
        self.value_format = format_of(config, "value", "JSON" if self.format == "csv" else "KAFKA")
        self.position: Optional[int] = None
        self._header_line: Optional[bytes] = None
        self._writer: Optional[RecordWriter] = None
        context.ensure_topic(self.topic, config)

    def _partition(self) -> dict:
        return {"filename": str(self.path)}

    def poll(self) -> int:
        if self.position is None:
            stored = self.context.offsets.get(self.name, self._partition())
            self.position = int(stored.get("position", 0)) if stored else 0
        try:
            with open(self.path, "rb") as handle:
                if self.format == "csv" and self.header and self._header_line is None:
                    self._header_line = handle.readline()
                    if not self._header_line.endswith(b"\n"):
                        self._header_line = None
                        return 0
                    self.position = max(self.position, len(self._header_line))
                handle.seek(self.position)
                chunk = handle.read(READ_BYTES)
        except FileNotFoundError:
            return 0       # Kafka's FileStreamSource waits for the file to appear
        end = chunk.rfind(b"\n")
        if end < 0:
            return 0
        chunk = chunk[:end + 1]
        values = self._values(chunk)
        if len(values):
            self.context.append(self.topic, pa.nulls(len(values), pa.binary()), values)
        self.position += len(chunk)
        self.context.offsets.put(self.name, self._partition(), {"position": self.position})
        return max(1, len(values))

    def _values(self, chunk: bytes) -> pa.Array:
        if self.format != "csv":
            lines = pa.array(chunk[:-1].split(b"\n"), pa.binary())
            trimmed = pc.utf8_rtrim(lines.cast(pa.string()), characters="\r").cast(pa.binary())
            keep = pc.greater(pc.binary_length(trimmed), 0) if self.format == "jsonl" else None
            return trimmed if keep is None else trimmed.filter(keep)
        table = self._csv_table(chunk)
        if self._writer is None:
            self._writer = RecordWriter(self.value_format, [Column(n, t) for n, t in self._columns_for(table)],
                                        False, self.topic, self.context.registry, self.context.registry_token)
        return self._writer.write(table)

    def _columns_for(self, table: pa.Table):
        return self.columns or [(name, STRING) for name in table.column_names]

    def _csv_table(self, chunk: bytes) -> pa.Table:
        names = [n for n, _ in self.columns] if self.columns else self._header_names()
        table = pacsv.read_csv(
            io.BytesIO(chunk), read_options=pacsv.ReadOptions(column_names=names),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=self._bad_row))
        if not self.columns:
            return table
        return pa.table({name: _converted(table.column(name), sql_type, self._report)
                         for name, sql_type in self.columns})

    def _header_names(self) -> list[str]:
        header = pacsv.read_csv(io.BytesIO(self._header_line), read_options=pacsv.ReadOptions())
        return header.column_names

    def _bad_row(self, row) -> str:
        self._report(f"skipped a CSV row of {self.path} with {row.actual_columns} fields "
                     f"(expected {row.expected_columns}): {row.text[:200]!r}")
        return "skip"

    def _report(self, message: str) -> None:
        self.context.report(self.name, message)

    def pending(self) -> bool:
        return False

    def positions(self) -> dict:
        return {}

    def topics(self) -> list[str]:
        return [self.topic]

    def close(self) -> None:
        pass


def _schema_columns(text: Optional[str]) -> list[tuple[str, object]]:
    """`ID INT, NAME STRING` as (name, type) pairs, names as ksqlDB reads them."""
    if not text or not text.strip():
        return []
    from pyksqlite.grammar.parser import parse_statement
    try:
        statement = parse_statement(f"CREATE STREAM s ({text}) WITH (kafka_topic='s', value_format='JSON');")
    except Exception as error:  # noqa: BLE001 - a ParseError, said as a config error
        raise ConnectError(400, f"Invalid value.schema '{text}': {getattr(error, 'message', error)}") from None
    return [(column.name, column.type) for column in statement.columns]


def _converted(column: pa.ChunkedArray, sql_type, report) -> pa.Array:
    """CSV text to `sql_type`; an empty field is null, a field that does not convert is null and
    reported (the record is kept, as ksqlDB nulls a column it cannot read)."""
    target = to_arrow(sql_type)
    text = column.combine_chunks()
    if target == pa.string():
        return text
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    try:
        return pc.cast(text, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = []
        for value in text.to_pylist():           # the error path: find the fields that do not convert
            try:
                values.append(None if value is None else pc.cast(pa.array([value]), target)[0].as_py())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                report(f"the CSV field {value[:100]!r} is not a {sql_type}: read as null")
                values.append(None)
        return pa.array(values, target)


class FileSink:
    def __init__(self, name: str, config: dict[str, str], context: WorkerContext):
        self.name, self.context = name, context
        self.path = context.allowed_path(_required(config, "file"), "file")
        self.topic_names = [t.strip() for t in _required(config, "topics").split(",") if t.strip()]
        self.consumer = None

    def poll(self) -> int:
        if self.consumer is None:
            missing = [t for t in self.topic_names if not self.context.log.topic_exists(t)]
            if missing:
                return 0               # Connect's sinks wait for their topics too
            self.consumer = self.context.log.consumer(f"connect-{self.name}", self.topic_names,
                                                      auto_offset_reset="earliest")
        batch = self.consumer.poll(10_000)
        if batch is None or batch.num_rows == 0:
            return 0
        values = pc.fill_null(batch.column("value"), b"null")
        text = b"\n".join(values.to_pylist()) + b"\n"     # one bytes join: the file write itself
        with open(self.path, "ab") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        self.consumer.commit()
        return batch.num_rows

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
