"""The streaming endpoints of the REST API: `/query`, `/query-stream`, `/inserts-stream`.

A query response is an ASGI app of its own (`QueryResponse`): it writes a header, then rows as
the engine produces them, through one of ksqlDB's three writers (`StreamedRowWriter` for `/query`
and `application/vnd.ksql.v1+json`, `DelimitedWriter`, `JsonArrayWriter`). Push queries never
block the event loop: the engine's query thread wakes the writer through `PushQuery.add_listener`.

Slow clients: rows wait in the push query's bounded buffer; a client whose socket has not taken
a write for `send_timeout` seconds, or whose query buffer overflowed, is cut off (the query is
closed and the connection dropped), so it never holds memory or slows other clients.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Optional

from starlette.concurrency import run_in_threadpool

from pyksqlite.grammar.formatter import format_identifier, format_string
from pyksqlite.shell import server_formats as fmt

logger = logging.getLogger("ksqlite.server")

MAX_ROWS_PER_WRITE = 500
PRINT_POLL_SECONDS = 0.25


class SlowClient(Exception):
    """The client stopped reading; the connection is dropped."""


# --- writers: one per media type -----------------------------------------------------------------

class StreamedRowWriter:
    """`/query` and application/vnd.ksql.v1+json: one JSON array, one element per line
    (ksqlDB's JsonStreamedRowResponseWriter). Push query elements end with ",\\n" as soon as they
    are written; a pull query holds its last row back so the array closes without a comma."""
    media_type = fmt.V1_JSON

    def __init__(self, push: bool):
        self.push = push
        self._held: Optional[bytes] = None
        self._types: Optional[list[str]] = None

    def header(self, query_id: str, columns, is_pull: bool) -> bytes:
        self._types = [c.type for c in columns]
        schema = fmt.header_schema(columns, mark_keys=is_pull)
        element = b"[" + fmt.dumps({"header": {"queryId": query_id, "schema": schema}})
        if self.push:
            return element + b",\n"
        self._held = element   # held like a row: with no rows, the header closes the array
        return b""

    def row(self, values: list[Any], tombstone: bool = False) -> bytes:
        element: dict[str, Any] = {"columns": fmt.row_values(values, self._types)}
        if tombstone:
            element["tombstone"] = True
        return self._element(fmt.dumps({"row": element}))

    def error(self, error: dict) -> bytes:
        return self._element(fmt.dumps({"errorMessage": error}))

    def _element(self, data: bytes) -> bytes:
        if self.push:
            return data + b",\n"
        held, self._held = self._held, data
        return held + b",\n" if held is not None else b""

    def final(self, message: Optional[str]) -> bytes:
        out = self._flush_held(last=message is None)
        if message is not None:
            out += fmt.dumps({"finalMessage": message})
        return out + b"]\n"

    def _flush_held(self, last: bool) -> bytes:
        held, self._held = self._held, None
        if held is None:
            return b""
        return held if last else held + b",\n"


class DelimitedWriter:
    """application/vnd.ksqlapi.delimited.v1: a metadata line, then one JSON array per row.
    Tombstones are dropped, as ksqlDB does."""
    media_type = fmt.DELIMITED

    def header(self, query_id: str, columns, is_pull: bool) -> bytes:
        return fmt.dumps({"queryId": query_id, "columnNames": [c.name for c in columns],
                          "columnTypes": [c.type for c in columns]}) + b"\n"

    def row(self, values: list[Any], tombstone: bool = False) -> bytes:
        return b"" if tombstone else fmt.dumps(fmt.row_values(values)) + b"\n"

    def error(self, error: dict) -> bytes:
        return fmt.dumps(error) + b"\n"

    def final(self, message: Optional[str]) -> bytes:
        return b""


class JsonArrayWriter(DelimitedWriter):
    """application/json on /query-stream: `[{metadata},[row],[row]]`, no newlines."""
    media_type = fmt.JSON

    def __init__(self):
        self._first = True

    def header(self, query_id: str, columns, is_pull: bool) -> bytes:
        return b"[" + super().header(query_id, columns, is_pull).rstrip(b"\n")

    def row(self, values: list[Any], tombstone: bool = False) -> bytes:
        return b"" if tombstone else b"," + fmt.dumps(fmt.row_values(values))

    def error(self, error: dict) -> bytes:
        return b"," + fmt.dumps(error)

    def final(self, message: Optional[str]) -> bytes:
        return b"]"


def writer_for(media_type: str, push: bool):
    if media_type == fmt.DELIMITED:
        return DelimitedWriter()
    if media_type == fmt.JSON:
        return JsonArrayWriter()
    return StreamedRowWriter(push)


# --- responses -----------------------------------------------------------------------------------

class StreamingBody:
    """Sends a chunked body while watching for the client going away; a write the client does not
    take within `send_timeout` seconds raises SlowClient (the server then drops the connection)."""

    def __init__(self, scope, receive, send, media_type: str, send_timeout: float):
        self.receive, self.send = receive, send
        self.media_type = media_type
        self.send_timeout = send_timeout
        self.disconnected = asyncio.Event()
        self._watch: Optional[asyncio.Task] = None

    async def start(self) -> None:
        await self.send({"type": "http.response.start", "status": 200,
                         "headers": [(b"content-type", self.media_type.encode()),
                                     (b"cache-control", b"no-cache")]})
        self._watch = asyncio.create_task(self._watch_disconnect())

    async def _watch_disconnect(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                return

    async def write(self, data: bytes) -> None:
        if not data or self.disconnected.is_set():
            return
        try:
            await asyncio.wait_for(self.send({"type": "http.response.body", "body": data,
                                              "more_body": True}), self.send_timeout)
        except asyncio.TimeoutError:
            raise SlowClient(f"client took no data for {self.send_timeout:g}s") from None

    async def finish(self, data: bytes = b"") -> None:
        if self._watch is not None:
            self._watch.cancel()
        if not self.disconnected.is_set():
            await asyncio.wait_for(self.send({"type": "http.response.body", "body": data,
                                              "more_body": False}), self.send_timeout)


class PullResponse:
    """A finished pull query: header, rows, no finalMessage (on a stream: keys unmarked in the
    header and a final "Query Completed", as ksqlDB answers those)."""

    def __init__(self, result, media_type: str, send_timeout: float):
        self.result, self.media_type, self.send_timeout = result, media_type, send_timeout

    async def __call__(self, scope, receive, send) -> None:
        writer = writer_for(self.media_type, push=False)
        body = StreamingBody(scope, receive, send, self.media_type, self.send_timeout)
        await body.start()
        on_stream = getattr(self.result, "on_stream", False)
        if on_stream and isinstance(writer, StreamedRowWriter):
            writer.push = True   # a stream's pull query reads as a push query that completes
        chunks = [writer.header(self.result.query_id, self.result.columns, is_pull=not on_stream)]
        chunks.extend(writer.row(values) for values in self.result.rows)
        await body.write(b"".join(chunks))
        final = "Limit Reached" if getattr(self.result, "limit_reached", False) else "Query Completed"
        await body.finish(writer.final(final if on_stream else None))


class PushResponse:
    """A running push query: rows as they arrive, until LIMIT, close-query or disconnect."""

    def __init__(self, query, media_type: str, registry: dict, send_timeout: float,
                 query_id: Optional[str] = None):
        self.query, self.media_type = query, media_type
        self.registry, self.send_timeout = registry, send_timeout
        self.query_id = query_id or query.query_id   # the id clients see (and close)

    async def __call__(self, scope, receive, send) -> None:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        self.query.add_listener(lambda: loop.call_soon_threadsafe(wake.set))
        writer = writer_for(self.media_type, push=True)
        body = StreamingBody(scope, receive, send, self.media_type, self.send_timeout)
        self.registry[self.query_id] = self.query
        try:
            await body.start()
            await body.write(writer.header(self.query_id, self.query.columns, is_pull=False))
            final = await self._pump(writer, body, wake)
            await body.finish(final)
        except SlowClient:
            logger.warning("push query %s: %s; closing it", self.query_id, "slow client")
            raise
        finally:
            self.registry.pop(self.query_id, None)
            await run_in_threadpool(self.query.close)

    async def _pump(self, writer, body: StreamingBody, wake: asyncio.Event) -> bytes:
        query = self.query
        while not body.disconnected.is_set():
            wake.clear()
            rows = query.poll(0, MAX_ROWS_PER_WRITE)
            if rows:
                await body.write(b"".join(writer.row(r.values, r.tombstone) for r in rows))
                continue
            if query.overflowed:
                return writer.error(fmt.generic_error(fmt.SERVER_ERROR, "Client too slow: rows were dropped")) \
                    + writer.final(None)
            if query.done:
                if query.error:
                    return writer.error(fmt.generic_error(fmt.SERVER_ERROR, query.error)) + writer.final(None)
                return writer.final("Limit Reached" if query.limit_reached else "Query Completed")
            waiter = asyncio.ensure_future(wake.wait())
            gone = asyncio.ensure_future(body.disconnected.wait())
            await asyncio.wait({waiter, gone}, timeout=5.0, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            gone.cancel()
        return b""


class PrintResponse:
    """PRINT 'topic': records as text lines, live, until LIMIT or disconnect."""

    def __init__(self, engine, statement, media_type: str, send_timeout: float):
        self.engine, self.statement = engine, statement
        self.media_type, self.send_timeout = media_type, send_timeout

    async def __call__(self, scope, receive, send) -> None:
        body = StreamingBody(scope, receive, send, self.media_type, self.send_timeout)
        await body.start()
        topic, limit = self.statement.topic, self.statement.limit
        interval = max(1, self.statement.interval or 1)
        seen: dict[int, int] = {}
        if not self.statement.from_beginning:
            ends = await run_in_threadpool(self.engine.log.end_offsets, topic)
            seen = {p: end - 1 for p, end in enumerate(ends)}
        printed = counted = 0
        header_sent = False
        while not body.disconnected.is_set() and (limit is None or printed < limit):
            records = await run_in_threadpool(self.engine.read_topic_records, topic)
            fresh = [r for r in records if r.offset > seen.get(r.partition, -1)]
            lines = []
            if not header_sent and fresh:
                lines.append(f"Key format: {_format_name(self.engine, topic, 'key')}\n"
                             f"Value format: {_format_name(self.engine, topic, 'value')}\n")
                header_sent = True
            for record in fresh:
                seen[record.partition] = max(seen.get(record.partition, -1), record.offset)
                counted += 1
                if (counted - 1) % interval or (limit is not None and printed >= limit):
                    continue
                lines.append(print_line(record) + "\n")
                printed += 1
            if lines:
                await body.write("".join(lines).encode())
            elif limit is None or printed < limit:
                try:
                    await asyncio.wait_for(body.disconnected.wait(), PRINT_POLL_SECONDS)
                except asyncio.TimeoutError:
                    pass
        await body.finish()


def _format_name(engine, topic: str, part: str) -> str:
    sources = engine.catalog.sources_on_topic(topic)
    if not sources:
        return "KAFKA_STRING" if part == "key" else "JSON or KAFKA_STRING"
    format_info = sources[0].key_format if part == "key" else sources[0].value_format
    return format_info.name


def print_line(record) -> str:
    """`rowtime: 2022/12/02 17:22:02.556 Z, key: 18, value: {...}, partition: 0` (ksqlDB's PRINT)."""
    when = dt.datetime.fromtimestamp(record.timestamp / 1000, tz=dt.timezone.utc)
    rowtime = when.strftime("%Y/%m/%d %H:%M:%S.") + f"{when.microsecond // 1000:03d} Z"
    return (f"rowtime: {rowtime}, key: {_print_value(record.key)}, "
            f"value: {_print_value(record.value)}, partition: {record.partition}")


def _print_value(value: Any) -> str:
    if value is None:
        return "<null>"
    if isinstance(value, (dict, list)):
        return fmt.dumps(value).decode()
    return str(value)


# --- /inserts-stream -----------------------------------------------------------------------------

def insert_statement(engine, target: str, row: dict) -> str:
    """`INSERT INTO target (cols) VALUES (literals)` for one JSON row of /inserts-stream (column
    names matched case-insensitively; values rendered as ksqlDB literals of the column types)."""
    description = engine.describe_source(target)
    fields = {f["name"]: f for f in description["fields"]}
    by_upper = {name.upper(): name for name in fields}
    names, literals = [], []
    for key, value in row.items():
        name = key if key in fields else by_upper.get(key.upper())
        if name is None:
            if key.upper() == "ROWTIME":
                names.append("ROWTIME")
                literals.append(str(int(value)))
                continue
            raise ValueError(f"Column name {key} does not exist.")
        names.append(format_identifier(name))
        literals.append(sql_literal(value, fields[name]["schema"]))
    return f"INSERT INTO {format_identifier(description['name'])} ({', '.join(names)}) VALUES ({', '.join(literals)});"


def sql_literal(value: Any, schema: dict) -> str:
    kind = schema.get("type")
    if value is None:
        return "NULL"
    if kind == "ARRAY":
        return "ARRAY[" + ", ".join(sql_literal(v, schema["memberSchema"]) for v in value) + "]"
    if kind == "MAP":
        if not value:
            return f"CAST(NULL AS MAP<STRING, {_type_text(schema['memberSchema'])}>)"
        return "MAP(" + ", ".join(f"{format_string(str(k))} := {sql_literal(v, schema['memberSchema'])}"
                                  for k, v in value.items()) + ")"
    if kind == "STRUCT":
        members = {f["name"].upper(): f for f in schema.get("fields") or []}
        parts = []
        for k, v in value.items():
            field = members.get(k.upper())
            if field is not None:
                parts.append(f"{format_identifier(field['name'])} := {sql_literal(v, field['schema'])}")
        return "STRUCT(" + ", ".join(parts) + ")"
    if kind in ("STRING", "VARCHAR", "BYTES", "DATE", "TIME", "TIMESTAMP") and isinstance(value, str):
        literal = format_string(value)
        return literal if kind in ("STRING", "VARCHAR") else f"CAST({literal} AS {kind})" \
            if kind != "BYTES" else f"TO_BYTES({literal}, 'base64')"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value) if kind != "STRING" else format_string(str(value))
    return format_string(str(value))


def _type_text(schema: dict) -> str:
    return schema.get("type", "STRING")

