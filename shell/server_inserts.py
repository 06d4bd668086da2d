"""`POST /inserts-stream` (HTTP/2): rows as newline-delimited JSON, acknowledged as they are written.

The first line names the target, `{"target": "S", "properties": {}}` (the name is matched
case-insensitively); each later line is a row, `{"COL1": "v", "COL2": 2.3}`. The body is read as it
arrives: the rows that arrived together become INSERT VALUES statements the engine appends in one
go, and their acks, `{"status":"ok","seq":0}` or `{"status":"error","seq":3,"error_code":40000,
"message":...}`, are sent right after. The stream may be unbounded (as ksqlDB's is); one line
may not exceed the request size limit. A client that goes away stops the inserts; one that
stops reading its acks for `send_timeout` seconds is cut off.

Values become ksqlDB literals of their column's type (`sql_literal`); a value of the wrong JSON
kind for its column (an object for an INTEGER, a string for an ARRAY) is an error ack.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

from starlette.concurrency import run_in_threadpool

from pyksqlite.common.errors import KsqlException, LogWriteException
from pyksqlite.grammar.formatter import format_identifier, format_string
from pyksqlite.shell import server_formats as fmt
from pyksqlite.shell.server_requests import BadRequest, bad_request_response, parse_json_object

logger = logging.getLogger("ksqlite.server")

TOO_LONG = object()    # stands for a line over the size limit


class RowError(ValueError):
    """A row that cannot become an INSERT statement; its message is the error ack's."""


class InsertsStream:
    """The response to one /inserts-stream request (an ASGI app that reads its own body)."""

    def __init__(self, engine, max_line_bytes: int, send_timeout: float = 10.0):
        self.engine, self.max_line_bytes, self.send_timeout = engine, max_line_bytes, send_timeout

    async def __call__(self, scope, receive, send) -> None:
        reader = LineReader(receive, self.max_line_bytes)
        try:
            target = await run_in_threadpool(resolve_target, self.engine, await reader.header())
        except BadRequest as error:
            await bad_request_response(error)(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", fmt.DELIMITED.encode())]})
        seq = 0
        try:
            while (lines := await reader.next_lines()) is not None:
                acks = await run_in_threadpool(insert_rows, self.engine, target, lines, seq)
                seq += len(lines)
                await self._send(send, acks, more=True)
            if not reader.disconnected:
                await self._send(send, b"", more=False)
        except asyncio.TimeoutError:    # returning unfinished drops the connection
            logger.warning("inserts-stream into %s: the client took no acks for %gs; dropping it",
                           target, self.send_timeout)

    async def _send(self, send, data: bytes, more: bool) -> None:
        await asyncio.wait_for(send({"type": "http.response.body", "body": data, "more_body": more}),
                               self.send_timeout)


class LineReader:
    """The lines of a request body as they arrive. A line over `max_line` bytes is given as
    TOO_LONG (and skipped to its end); blank lines are dropped."""

    def __init__(self, receive, max_line: int):
        self.receive, self.max_line = receive, max_line
        self.buffer = bytearray()
        self.ended = self.disconnected = self.skipping = False

    async def header(self) -> dict:
        lines = await self.next_lines(1)
        if not lines:
            raise BadRequest("No target in request")
        if lines[0] is TOO_LONG:
            raise BadRequest("Invalid inserts-stream header: too long")
        return parse_json_object(lines[0])

    async def next_lines(self, most: Optional[int] = None) -> Optional[list]:
        """The complete lines that have arrived (at least one, at most `most`); None at the end."""
        while True:
            lines = self._complete_lines(most)
            if lines:
                return lines
            if self.ended:
                return self._rest()
            await self._fill()

    async def _fill(self) -> None:
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.ended = self.disconnected = True
            return
        self.buffer += message.get("body", b"")
        if not message.get("more_body", False):
            self.ended = True

    def _complete_lines(self, most: Optional[int]) -> list:
        lines: list = []
        while (most is None or len(lines) < most) and (newline := self.buffer.find(b"\n")) >= 0:
            line = bytes(self.buffer[:newline])
            del self.buffer[:newline + 1]
            if self.skipping:
                self.skipping = False
            elif len(line) > self.max_line:
                lines.append(TOO_LONG)
            elif line.strip():
                lines.append(line)
        if not lines and len(self.buffer) > self.max_line and self.buffer.find(b"\n") < 0:
            self.buffer.clear()
            if not self.skipping:
                self.skipping = True
                lines.append(TOO_LONG)
        return lines

    def _rest(self) -> Optional[list]:
        rest, skipping = bytes(self.buffer), self.skipping
        self.buffer.clear()
        self.skipping = False
        if self.disconnected or skipping or not rest.strip():
            return None
        return [TOO_LONG if len(rest) > self.max_line else rest]


def resolve_target(engine, header: dict) -> str:
    """The name of the stream or table the header's `target` names (case-insensitively)."""
    target = header.get("target")
    if not isinstance(target, str) or not target.strip():
        raise BadRequest("Invalid inserts-stream header: 'target' must be a non-empty string")
    properties = header.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise BadRequest("Invalid inserts-stream header: 'properties' must be a JSON object")
    if engine.catalog.get_source(target) is None:
        target = target.upper()
    try:
        return engine.describe_source(target)["name"]
    except KsqlException as exc:
        raise BadRequest(exc.message) from None


def insert_rows(engine, target: str, lines: list, first_seq: int) -> bytes:
    """Insert the rows of `lines` in one go where possible; one ack line per row, in order."""
    acks: list[Optional[bytes]] = [None] * len(lines)
    texts, positions = [], []
    try:
        fields = _fields(engine, target)
    except KsqlException as exc:       # the target was dropped meanwhile
        return b"".join(_error(first_seq + i, exc.message) for i in range(len(lines)))
    for index, line in enumerate(lines):
        try:
            texts.append(insert_statement(target, fields, _row(line)))
            positions.append(index)
        except (RowError, BadRequest) as error:
            acks[index] = _error(first_seq + index, getattr(error, "message", None) or str(error))
    start = 0
    while start < len(texts):
        try:
            engine.execute_statements(texts[start:])
            done, failure = len(texts) - start, None
        except KsqlException as exc:
            done, failure = len(exc.results or []), exc.message
            code = fmt.SERVER_ERROR if isinstance(exc, LogWriteException) else fmt.BAD_REQUEST
        except Exception:  # noqa: BLE001 - an engine bug: this row fails, the others are tried
            logger.exception("inserting a row into %s failed", target)
            done, failure, code = 0, "Internal server error while inserting the row", fmt.SERVER_ERROR
        for position in positions[start:start + done]:
            acks[position] = fmt.dumps({"status": "ok", "seq": first_seq + position}) + b"\n"
        if failure is not None:
            acks[positions[start + done]] = _error(first_seq + positions[start + done], failure, code)
            done += 1
        start += done
    return b"".join(acks)  # type: ignore[arg-type]


def _error(seq: int, message: str, code: int = fmt.BAD_REQUEST) -> bytes:
    return fmt.dumps({"status": "error", "seq": seq, "error_code": code, "message": message}) + b"\n"


def _row(line) -> dict:
    if line is TOO_LONG:
        raise RowError("Row exceeds the request size limit")
    row = parse_json_object(line)
    return row


def _fields(engine, target: str) -> dict[str, dict]:
    return {f["name"]: f for f in engine.describe_source(target)["fields"]}


def insert_statement(target: str, fields: dict[str, dict], row: dict) -> str:
    """`INSERT INTO target (cols) VALUES (literals)` for one JSON row (column names matched
    case-insensitively; values rendered as ksqlDB literals of the column types)."""
    by_upper = {name.upper(): name for name in fields}
    names, literals = [], []
    for key, value in row.items():
        name = key if key in fields else by_upper.get(key.upper())
        if name is None:
            if key.upper() == "ROWTIME":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise RowError("ROWTIME must be an integer (milliseconds since the epoch)")
                names.append("ROWTIME")
                literals.append(str(value))
                continue
            raise RowError(f"Column name {key[:100]} does not exist.")
        names.append(format_identifier(name, always_quoted=True))
        literals.append(sql_literal(value, fields[name]["schema"], name))
    return f"INSERT INTO {format_identifier(target, always_quoted=True)} ({', '.join(names)}) VALUES ({', '.join(literals)})"


_TEXT_TYPES = ("STRING", "VARCHAR", "BYTES", "DATE", "TIME", "TIMESTAMP")


def sql_literal(value: Any, schema: dict, column: str) -> str:
    """`value` as a ksqlDB literal of the column type `schema` (describe_source's schema)."""
    kind = schema.get("type")
    if value is None:
        return "NULL"
    if kind == "ARRAY":
        items = _expect(value, list, column, "an array")
        return "ARRAY[" + ", ".join(sql_literal(v, schema["memberSchema"], column) for v in items) + "]"
    if kind == "MAP":
        entries = _expect(value, dict, column, "an object")
        if not entries:
            return f"CAST(NULL AS MAP<STRING, {_type_text(schema['memberSchema'])}>)"
        return "MAP(" + ", ".join(f"{_string(k)} := {sql_literal(v, schema['memberSchema'], column)}"
                                  for k, v in entries.items()) + ")"
    if kind == "STRUCT":
        members = {f["name"].upper(): f for f in schema.get("fields") or []}
        parts = []
        for key, member_value in _expect(value, dict, column, "an object").items():
            field = members.get(key.upper())
            if field is not None:
                parts.append(f"{format_identifier(field['name'], always_quoted=True)} := {sql_literal(member_value, field['schema'], column)}")
        return "STRUCT(" + ", ".join(parts) + ")"
    if isinstance(value, (dict, list)):
        raise RowError(f"Invalid value for column {column}: expected a {kind} value, got "
                       f"{'an object' if isinstance(value, dict) else 'an array'}")
    if kind in _TEXT_TYPES and isinstance(value, str):
        literal = _string(value)
        if kind in ("STRING", "VARCHAR"):
            return literal
        return f"TO_BYTES({literal}, 'base64')" if kind == "BYTES" else f"CAST({literal} AS {kind})"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value) if kind not in ("STRING", "VARCHAR") else _string(str(value))
    return _string(str(value))


def _expect(value: Any, kind: type, column: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise RowError(f"Invalid value for column {column}: expected {what}")
    return value


def _type_text(schema: dict) -> str:
    """describe_source's schema back to ksqlDB type text."""
    kind = schema.get("type") or "STRING"
    if kind == "ARRAY":
        return f"ARRAY<{_type_text(schema['memberSchema'])}>"
    if kind == "MAP":
        return f"MAP<STRING, {_type_text(schema['memberSchema'])}>"
    if kind == "STRUCT":
        return "STRUCT<" + ", ".join(f"{format_identifier(f['name'], always_quoted=True)} {_type_text(f['schema'])}"
                                     for f in schema.get("fields") or []) + ">"
    parameters = schema.get("parameters") or {}
    if kind == "DECIMAL" and parameters:
        return f"DECIMAL({int(parameters['precision'])}, {int(parameters['scale'])})"
    return kind


def _string(text) -> str:
    return format_string(str(text))
