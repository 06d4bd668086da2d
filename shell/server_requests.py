"""What a request to the REST API may hold, checked before any work is done for it.

A body is read only up to `ksqlite.limits.request.bytes` (default 8 MiB; a Content-Length above
it is refused before reading). It must be a JSON object whose fields have ksqlDB's JSON types:
statement text a string, properties and session variables objects of scalar values, a
command sequence number an integer. Property overrides are checked as ksqlDB checks them: the
server-wide ones (service id, extension dir, bootstrap servers, `ksqlite.*` ...) cannot be
overridden, and the typed ones must parse as their type. Anything else is a 400 with ksqlDB's
`generic_error` body.

`ErrorGuard` wraps the app: an exception no handler expected is logged with its traceback and
answered with a 500 `generic_error` that names only a reference to that log line.
"""
from __future__ import annotations

import asyncio
import logging
import re
import threading
import uuid
from typing import Any, Mapping, Optional

from starlette.requests import Request
from starlette.responses import Response

from pyksqlite.grammar.limits import PREFIX as LIMITS_PREFIX, positive_int
from pyksqlite.shell import server_formats as fmt

logger = logging.getLogger("ksqlite.server")

REQUEST_BYTES_PROPERTY = LIMITS_PREFIX + "request.bytes"
DEFAULT_REQUEST_BYTES = 8 * 1024 * 1024
SERVICE_UNAVAILABLE = 50300


class BadRequest(Exception):
    """A request the server refuses as it stands: 400 with a generic_error body."""

    def __init__(self, message: str, code: int = fmt.BAD_REQUEST, status: int = 400):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def json_response(content: Any, status: int = 200, media_type: str = fmt.V1_JSON,
                  headers: Optional[dict] = None) -> Response:
    return Response(fmt.dumps(content), status, headers, media_type)


def bad_request_response(error: BadRequest, media_type: str = fmt.V1_JSON) -> Response:
    return json_response(fmt.generic_error(error.code, error.message), error.status, media_type)


def request_bytes_limit(properties: Mapping[str, Any]) -> int:
    value = properties.get(REQUEST_BYTES_PROPERTY)
    return DEFAULT_REQUEST_BYTES if value is None else positive_int(value, REQUEST_BYTES_PROPERTY)


# --- bodies ---------------------------------------------------------------------------------------

def _too_large(limit: int) -> BadRequest:
    return BadRequest(f"Request body exceeds the limit of {limit} bytes (set {REQUEST_BYTES_PROPERTY} "
                      "to change it).")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused as soon as it is known to be larger than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit() or len(declared.strip()) > 18:
            raise BadRequest("Invalid Content-Length header")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def json_object(request: Request, limit: int) -> dict:
    """The body as a JSON object ({} for an empty body)."""
    raw = await read_body(request, limit)
    if not raw.strip():
        return {}
    return parse_json_object(raw)


def parse_json_object(raw: bytes) -> dict:
    try:
        body = fmt.orjson.loads(raw)
    except fmt.orjson.JSONDecodeError as error:
        raise BadRequest(f"Invalid JSON in request: {_json_reason(error)}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"Invalid JSON in request: expected an object, got {_json_kind(body)}")
    return body


def _json_reason(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else "not JSON"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), "a value")


# --- fields ---------------------------------------------------------------------------------------

def text_field(body: dict, name: str) -> str:
    value = body.get(name)
    if value is None:
        raise BadRequest(f"Missing '{name}' in request")
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string, got {_json_kind(value)}")
    return value


def optional_text_field(body: dict, name: str) -> Optional[str]:
    return None if body.get(name) is None else text_field(body, name)


def _object_field(body: dict, name: str) -> dict:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"'{name}' must be a JSON object, got {_json_kind(value)}")
    return value


def _scalar(value: Any, what: str) -> Any:
    if isinstance(value, (str, bool, int, float)):
        return value
    raise BadRequest(f"{what} must be a string, number or boolean, got {_json_kind(value)}")


def properties_field(body: dict, name: str) -> dict[str, Any]:
    """Property overrides, checked (see `check_property`)."""
    return {key: check_property(key, _scalar(value, f"The value of property '{_shown(key)}'"))
            for key, value in _object_field(body, name).items()}


_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def variables_field(body: dict, name: str = "sessionVariables") -> dict[str, str]:
    """Session variables as text (numbers and booleans as ksqlDB writes them)."""
    variables = {}
    for key, value in _object_field(body, name).items():
        if not _VARIABLE_NAME.fullmatch(key):
            raise BadRequest(f"Invalid variable name '{_shown(key)}' in '{name}'")
        value = _scalar(value, f"The value of variable '{key}'")
        variables[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return variables


def sequence_number_field(body: dict, name: str = "commandSequenceNumber") -> Optional[int]:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"'{name}' must be an integer, got {_json_kind(value)}")
    return value


def check_ksql_request(body: dict, text_name: str, properties_name: str) -> tuple[str, dict, dict]:
    """(statement text, property overrides, session variables) of a /ksql, /query or
    /query-stream body; every other field ksqlDB defines is type-checked too."""
    sequence_number_field(body)
    _object_field(body, "requestProperties")
    return text_field(body, text_name), properties_field(body, properties_name), variables_field(body)


def _shown(text: str) -> str:
    return text if len(text) <= 80 else text[:80] + "..."


# --- property overrides ---------------------------------------------------------------------------

# Server-wide settings a request may not change (ksqlDB's `ksql.immutable.properties`, and
# everything of ksqlite's own).
_IMMUTABLE = frozenset({"ksql.service.id", "ksql.extension.dir", "bootstrap.servers",
                        "ksql.schema.registry.url", "state.dir", "ksql.udfs.enabled",
                        "ksql.connect.url", "ksql.internal.topic.replicas", "application.id"})
_IMMUTABLE_PREFIXES = ("ksqlite.", "authentication.", "ssl.", "listeners", "ksql.security.")
_CHOICES = {"auto.offset.reset": ("earliest", "latest", "none"),
            "processing.guarantee": ("at_least_once", "exactly_once", "exactly_once_beta", "exactly_once_v2")}
_LONGS = frozenset({"cache.max.bytes.buffering", "commit.interval.ms", "ksql.sink.partitions",
                    "ksql.functions.collect_list.limit", "ksql.functions.collect_set.limit",
                    "num.stream.threads", "max.task.idle.ms", "ksql.query.pull.max.allowed.offset.lag"})
_BOOLEANS = frozenset({"ksql.query.pull.table.scan.enabled", "ksql.query.pull.range.scan.enabled",
                       "ksql.query.push.v2.enabled", "ksql.persistence.wrap.single.values",
                       "ksql.query.pull.interpreter.enabled"})


def check_property_name(name: str) -> str:
    """The key `name` is looked up by (without `ksql.streams.`), if a request may override it."""
    key = name.removeprefix("ksql.streams.")
    if not name or len(name) > 255:
        raise BadRequest("Invalid property name")
    if key in _IMMUTABLE or key.startswith(_IMMUTABLE_PREFIXES):
        raise BadRequest(f"Cannot override property '{_shown(name)}'")
    return key


def check_property(name: str, value: Any) -> Any:
    """`value` as an override of property `name`, or BadRequest as ksqlDB words it."""
    key = check_property_name(name)
    if key in _CHOICES:
        if not isinstance(value, str) or value.strip().lower() not in _CHOICES[key]:
            raise _invalid(name, value, "String must be one of: " + ", ".join(_CHOICES[key]))
        return value.strip().lower()
    if key in _LONGS:
        if isinstance(value, bool) or not re.fullmatch(r"-?\d{1,18}", str(value).strip()):
            raise _invalid(name, value, "Expected a number of type LONG")
        return int(str(value).strip())
    if key in _BOOLEANS:
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() not in ("true", "false"):
            raise _invalid(name, value, "Expected value to be either true or false")
        return str(value).strip().lower() == "true"
    return value


def _invalid(name: str, value: Any, reason: str) -> BadRequest:
    shown = fmt.dumps(value).decode()
    return BadRequest(f"Invalid value {_shown(shown)} for configuration {_shown(name)}: {reason}")


# --- the client going away ------------------------------------------------------------------------

class DisconnectWatch:
    """Set when the client disconnects: `gone` (a threading.Event, for worker threads) and
    `gone_async` (for the event loop). Start it once the body is read; `stop()` it before a
    response that listens for disconnects itself."""

    def __init__(self, request: Request):
        self.gone = threading.Event()
        self.gone_async = asyncio.Event()
        self._task = asyncio.ensure_future(self._watch(request.receive))

    async def _watch(self, receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
                self.gone_async.set()
                return

    def stop(self) -> None:
        self._task.cancel()


# --- exceptions no handler expected ---------------------------------------------------------------

class _BodyTracker:
    """Knows whether the app read the whole request body. A response that ends before it (an
    early 400) first reads and drops the rest, up to DRAIN_BYTES / DRAIN_SECONDS: a client still
    sending then gets the response instead of a reset, and Hypercorn's HTTP/2 protocol, which
    fails on data for a stream it has closed, keeps the connection's other streams alive."""

    DRAIN_BYTES = 64 * 1024 * 1024
    DRAIN_SECONDS = 2.0

    def __init__(self, receive):
        self._receive = receive
        self.done = False

    async def receive(self):
        message = await self._receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            self.done = True
        return message

    async def drain(self) -> None:
        drained = 0
        try:
            async with asyncio.timeout(self.DRAIN_SECONDS):
                while not self.done and drained <= self.DRAIN_BYTES:
                    drained += len((await self.receive()).get("body", b""))
        except TimeoutError:
            pass


def internal_error(exc: BaseException, scope: Optional[dict] = None) -> Response:
    """Log `exc` with its traceback; the client learns only a reference to the log line."""
    reference = uuid.uuid4().hex[:12]
    where = f"{scope.get('method', '')} {scope.get('path', '')}".strip() if scope else ""
    logger.error("internal error %s on %s", reference, where or "a request", exc_info=exc)
    exc._ksqlite_logged = True  # type: ignore[attr-defined]
    return json_response(fmt.generic_error(fmt.SERVER_ERROR, f"Internal server error (reference {reference})"), 500)


async def starlette_error_handler(request: Request, exc: Exception) -> Response:
    return internal_error(exc, request.scope)


class ErrorGuard:
    """Outermost ASGI wrapper: an exception escaping the app is logged once and, if no response
    has started, answered with a 500 generic_error (never a traceback or plain text)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        body = _BodyTracker(receive)

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                await body.drain()
            await send(message)

        try:
            await self.app(scope, body.receive, tracking_send)
        except asyncio.CancelledError:   # the server is stopping: say so if nothing was said yet
            if not started:
                unavailable = json_response(fmt.generic_error(SERVICE_UNAVAILABLE, "The server is shutting down"), 503)
                try:
                    await asyncio.shield(unavailable(scope, receive, send))
                except Exception:  # noqa: BLE001 - the connection may be gone already
                    pass
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            if getattr(exc, "_ksqlite_logged", False) and started:
                return
            response = internal_error(exc, scope)
            if not started:
                await response(scope, receive, send)
