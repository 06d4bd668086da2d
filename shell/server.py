"""`ksqlite serve`: ksqlDB's REST API (reference section 4) over the embedded engine.

Starlette routes the requests; Hypercorn serves them over HTTP/1.1 and HTTP/2 (h2c with prior
knowledge, as the Java client uses, and h2c upgrade), so no HTTP is written by hand here. Engine
calls block, so they run in the thread pool; push query rows are streamed by `server_streams`.
Persistent queries run in the engine's background scheduler (`pyksqlite.start()`), between requests
and, since the engine replays its command log, across a restart on the same data directory.

    app = create_app(engine, auth=None)          # an ASGI app (tests may drive it directly)
    with ServerThread(engine, port=0) as server:  # a real server on a loopback port
        server.url                               # http://127.0.0.1:<port>
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import re
import socket
import threading
from pathlib import Path
from typing import Any, Optional

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from pyksqlite.common.errors import KsqlException, LogWriteException
from pyksqlite.grammar import ast
from pyksqlite.grammar.errors import ParseError
from pyksqlite.grammar.parser import parse_statement, split_statements, substitute_variables
from pyksqlite.shell import server_formats as fmt
from pyksqlite.shell import server_streams

logger = logging.getLogger("ksqlite.server")

VERSION = "8.5.0"
SEND_TIMEOUT_SECONDS = 10.0
_SET = re.compile(r"^\s*(SET|UNSET)\s+'([^']+)'\s*(?:=\s*'((?:[^']|'')*)')?\s*;?\s*$", re.IGNORECASE)
_QUERY_START = re.compile(r"^\s*(?:(?:--[^\n]*\n)|(?:/\*.*?\*/)|\s)*(SELECT|PRINT)\b", re.IGNORECASE | re.DOTALL)


class KsqlJSONResponse(Response):
    def __init__(self, content: Any, status_code: int = 200, media_type: str = fmt.V1_JSON,
                 headers: Optional[dict] = None):
        super().__init__(fmt.dumps(content), status_code, headers, media_type)


def error_response(status: int, body: dict, media_type: str = fmt.V1_JSON) -> Response:
    return KsqlJSONResponse(body, status, media_type)


class ServerState:
    """What the routes share: the engine, the running push queries, the command statuses."""

    def __init__(self, engine, auth: Optional[dict[str, str]] = None,
                 send_timeout: float = SEND_TIMEOUT_SECONDS, service_id: str = "default_"):
        self.engine = engine
        self.auth = auth
        self.send_timeout = send_timeout
        self.service_id = service_id
        self.push_queries: dict[str, Any] = {}
        self.statuses: dict[str, dict[str, Any]] = {}


# --- helpers ------------------------------------------------------------------------------------

async def _json_body(request: Request) -> dict:
    raw = await request.body()
    try:
        body = fmt.orjson.loads(raw) if raw else {}
    except fmt.orjson.JSONDecodeError as error:
        raise _BadRequest(f"Invalid JSON in request: {error}") from None
    if not isinstance(body, dict):
        raise _BadRequest("Invalid JSON in request: expected an object")
    return body


class _BadRequest(Exception):
    pass


def _media_type(request: Request, offered: list[str], default: str) -> Optional[str]:
    return fmt.negotiate(request.headers.get("accept"), offered, default)


def _ksql_error(exc: KsqlException, text: str, entities: list[dict]) -> dict:
    code = fmt.SERVER_ERROR if isinstance(exc, LogWriteException) else fmt.BAD_STATEMENT
    return fmt.statement_error(code, exc.message, exc.statement_text or text, entities)


def _statement_text(text: str) -> str:
    text = text.strip()
    return text if text.endswith(";") else text + ";"


def _add_entities(state: "ServerState", results: list, entities: list[dict]) -> None:
    """The statements' entities as /ksql answers them, remembering command statuses.
    ksqlDB answers INSERT VALUES with no entity; ksql-python 0.10.2 then fails on `[][0]` (its
    issue #80), so the engine's currentStatus is kept."""
    for result in results:
        entity = dict(result.entity)
        entity["statementText"] = _statement_text(entity.get("statementText") or result.statement_text)
        entities.append(entity)
        if "commandId" in entity and "commandStatus" in entity:
            state.statuses[entity["commandId"]] = dict(entity["commandStatus"])


# --- /ksql --------------------------------------------------------------------------------------

async def ksql_endpoint(request: Request) -> Response:
    state: ServerState = request.app.state.ksql
    media = _media_type(request, [fmt.V1_JSON, fmt.JSON], fmt.V1_JSON) or fmt.V1_JSON
    try:
        body = await _json_body(request)
    except _BadRequest as error:
        return error_response(400, fmt.generic_error(fmt.BAD_REQUEST, str(error)), media)
    sql = body.get("ksql")
    if not isinstance(sql, str):
        return error_response(400, fmt.generic_error(fmt.BAD_REQUEST, "Missing 'ksql' in request"), media)
    statements = split_statements(sql)
    for text in statements:
        if _QUERY_START.match(text):
            return error_response(400, fmt.statement_error(
                fmt.QUERY_ENDPOINT, fmt.QUERY_ENDPOINT_MESSAGE, _statement_text(text)), media)
    properties = dict(body.get("streamsProperties") or {})
    variables = body.get("sessionVariables") or {}
    entities: list[dict] = []

    def run_together(texts: list[str]) -> Optional[dict]:
        """Statements between SETs go to the engine together (it appends INSERTs in one go)."""
        if not texts:
            return None
        try:
            results = state.engine.execute_statements(texts, properties=dict(properties), variables=variables)
        except KsqlException as exc:
            _add_entities(state, exc.results or [], entities)
            return _ksql_error(exc, _statement_text(exc.statement_text or texts[0]), entities)
        _add_entities(state, results, entities)
        return None

    def run() -> Optional[dict]:
        pending: list[str] = []
        for text in statements:
            setting = _SET.match(text)
            if not setting:
                pending.append(text)
                continue
            error = run_together(pending)
            if error is not None:
                return error
            pending = []
            if setting.group(1).upper() == "SET":  # over REST a SET/UNSET lasts for the rest of this request only
                properties[setting.group(2)] = setting.group(3)
            else:
                properties.pop(setting.group(2), None)
        return run_together(pending)

    try:
        error = await run_in_threadpool(run)
    except Exception as exc:  # noqa: BLE001 - an engine bug must still answer in ksqlDB's shape
        logger.exception("statement failed")
        return error_response(500, fmt.generic_error(fmt.SERVER_ERROR, f"{type(exc).__name__}: {exc}"), media)
    if error is not None:
        return error_response(500 if error["error_code"] == fmt.SERVER_ERROR else 400, error, media)
    return KsqlJSONResponse(entities, 200, media)


# --- /query and /query-stream -------------------------------------------------------------------

def _parse_query(engine, sql: str, variables: dict) -> tuple[str, ast.Statement]:
    statements = split_statements(sql)
    if len(statements) != 1:
        raise KsqlException(f"Expected exactly one KSQL statement; found {len(statements)} instead", sql)
    text = statements[0]
    merged = {**engine.variables, **variables}
    substituted = substitute_variables(text, merged) if merged else text
    try:
        statement = parse_statement(substituted, client_statements=True)
    except ParseError as error:
        raise KsqlException(f"{error.message}\nStatement: {substituted}", substituted) from error
    return substituted, statement


async def _run_query(request: Request, sql: Any, properties: dict, variables: dict,
                     media: str) -> Response:
    state: ServerState = request.app.state.ksql
    engine = state.engine
    if not isinstance(sql, str):
        return error_response(400, fmt.generic_error(fmt.BAD_REQUEST, "Missing query text in request"))
    try:
        text, statement = await run_in_threadpool(_parse_query, engine, sql, variables)
        if isinstance(statement, ast.Print):
            if media not in (fmt.DELIMITED, fmt.V1_JSON) and request.url.path == "/query-stream":
                return error_response(406, fmt.generic_error(40600, "PRINT requires the delimited format"))
            if not engine.log.topic_exists(statement.topic):
                raise KsqlException(f"Could not find topic '{statement.topic}', "
                                    "or the KSQL user does not have permissions to list the topic. "
                                    "Topic names are case-sensitive.", _statement_text(text))
            return server_streams.PrintResponse(engine, statement, "text/plain" if media == fmt.V1_JSON
                                                else media, state.send_timeout)
        if not isinstance(statement, ast.QueryStatement):
            raise KsqlException("Statement type not supported on the query endpoint: "
                                f"{type(statement).__name__}. Use /ksql.", _statement_text(text))
        if statement.query.emit is None:
            result = await run_in_threadpool(engine.pull_query, text, properties)
            return server_streams.PullResponse(result, media, state.send_timeout)
        query = await run_in_threadpool(engine.push_query, text, properties)
        return server_streams.PushResponse(query, media, state.push_queries, state.send_timeout,
                                           _scalable_push_id(engine, statement, properties))
    except KsqlException as exc:
        return error_response(400, _ksql_error(exc, _statement_text(sql), []))
    except Exception as exc:  # noqa: BLE001
        logger.exception("query failed")
        return error_response(500, fmt.generic_error(fmt.SERVER_ERROR, f"{type(exc).__name__}: {exc}"))


def _scalable_push_id(engine, statement: ast.QueryStatement, properties: dict) -> Optional[str]:
    """ksqlDB serves a simple push query on a persistent query's sink as a scalable push query
    (with `ksql.query.push.v2.enabled`, reading from latest) and names it SCALABLE_PUSH_QUERY_..."""
    settings = {**engine.properties, **properties}
    enabled = str(settings.get("ksql.query.push.v2.enabled", "false")).lower() == "true"
    reset = settings.get("auto.offset.reset", settings.get("ksql.streams.auto.offset.reset", "latest"))
    query = statement.query
    if not enabled or str(reset).lower() != "latest" or query.joins or query.window or query.group_by \
            or query.partition_by:
        return None
    source = engine.catalog.get_source(getattr(query.from_, "name", ""))
    if source is None or not engine.catalog.queries_writing(source.name):
        return None
    import uuid
    return f"SCALABLE_PUSH_QUERY_{uuid.uuid4()}"


async def query_endpoint(request: Request) -> Response:
    """The old streaming API: always the StreamedRow array, one element per line."""
    try:
        body = await _json_body(request)
    except _BadRequest as error:
        return error_response(400, fmt.generic_error(fmt.BAD_REQUEST, str(error)))
    return await _run_query(request, body.get("ksql"), body.get("streamsProperties") or {},
                            body.get("sessionVariables") or {}, fmt.V1_JSON)


async def query_stream_endpoint(request: Request) -> Response:
    media = _media_type(request, [fmt.DELIMITED, fmt.JSON, fmt.V1_JSON], fmt.DELIMITED)
    if media is None:
        return error_response(406, fmt.generic_error(40600, "Unsupported Accept header"))
    try:
        body = await _json_body(request)
    except _BadRequest as error:
        return error_response(400, fmt.generic_error(fmt.BAD_REQUEST, str(error)))
    return await _run_query(request, body.get("sql"), body.get("properties") or {},
                            body.get("sessionVariables") or {}, media)


async def close_query_endpoint(request: Request) -> Response:
    state: ServerState = request.app.state.ksql
    try:
        body = await _json_body(request)
    except _BadRequest as error:
        return error_response(400, fmt.generic_error(fmt.BAD_REQUEST, str(error)))
    query_id = body.get("queryId")
    query = state.push_queries.pop(query_id, None) if isinstance(query_id, str) else None
    if query is None:
        return error_response(400, fmt.generic_error(fmt.BAD_REQUEST, f"No query with id {query_id}"))
    await run_in_threadpool(query.close)
    return Response(b"", 200)


# --- /inserts-stream ----------------------------------------------------------------------------

async def inserts_stream_endpoint(request: Request) -> Response:
    if request.scope.get("http_version") != "2":
        return error_response(400, fmt.generic_error(
            fmt.HTTP2_ONLY, "This endpoint is only available when using HTTP2"))
    state: ServerState = request.app.state.ksql
    lines = (await request.body()).decode().splitlines()
    lines = [line for line in lines if line.strip()]
    if not lines:
        return error_response(400, fmt.generic_error(fmt.BAD_REQUEST, "No target in request"))
    try:
        target = fmt.orjson.loads(lines[0])["target"]
    except Exception:  # noqa: BLE001
        return error_response(400, fmt.generic_error(fmt.BAD_REQUEST, "Invalid inserts-stream header"))

    def insert_all() -> list[bytes]:
        acks = []
        for seq, line in enumerate(lines[1:]):
            try:
                row = fmt.orjson.loads(line)
                state.engine.execute(server_streams.insert_statement(state.engine, target, row))
                acks.append(fmt.dumps({"status": "ok", "seq": seq}))
            except Exception as exc:  # noqa: BLE001 - each row gets its own ack
                message = getattr(exc, "message", None) or str(exc)
                code = fmt.SERVER_ERROR if isinstance(exc, LogWriteException) else fmt.BAD_REQUEST
                acks.append(fmt.dumps({"status": "error", "seq": seq, "error_code": code,
                                       "message": message}))
        return acks

    if state.engine.catalog.get_source(target) is None:  # the target name is case-insensitive
        target = target.upper()
    try:
        state.engine.describe_source(target)
    except KsqlException as exc:
        return error_response(400, fmt.generic_error(fmt.BAD_REQUEST, exc.message))
    acks = await run_in_threadpool(insert_all)
    return Response(b"".join(a + b"\n" for a in acks), 200, media_type=fmt.DELIMITED)


# --- small endpoints ----------------------------------------------------------------------------

async def info_endpoint(request: Request) -> Response:
    state: ServerState = request.app.state.ksql
    return KsqlJSONResponse({"KsqlServerInfo": {
        "version": VERSION, "kafkaClusterId": "ksqlite-embedded", "ksqlServiceId": state.service_id,
        "serverStatus": "RUNNING"}}, media_type=_media_type(request, [fmt.V1_JSON, fmt.JSON], fmt.V1_JSON) or fmt.V1_JSON)


async def healthcheck_endpoint(request: Request) -> Response:
    return KsqlJSONResponse({"isHealthy": True, "details": {
        "metastore": {"isHealthy": True}, "kafka": {"isHealthy": True},
        "commandRunner": {"isHealthy": True}}, "serverState": "READY"})


async def status_endpoint(request: Request) -> Response:
    state: ServerState = request.app.state.ksql
    return KsqlJSONResponse({k: v["status"] for k, v in state.statuses.items()})


async def command_status_endpoint(request: Request) -> Response:
    state: ServerState = request.app.state.ksql
    params = request.path_params
    entity = params["entity"]
    for command_id, status in state.statuses.items():
        kind, name, action = _split_command_id(command_id)
        if kind == params["type"] and name.upper() == entity.upper() and action == params["action"]:
            return KsqlJSONResponse(status)
    return error_response(404, fmt.generic_error(fmt.NOT_FOUND, f"Command not found: {params['type']}/{entity}/{params['action']}"))


def _split_command_id(command_id: str) -> tuple[str, str, str]:
    kind, _, rest = command_id.partition("/")
    name, _, action = rest.rpartition("/")
    return kind, name.strip("`"), action


async def is_valid_property_endpoint(request: Request) -> Response:
    return KsqlJSONResponse(True)


async def probe_endpoint(request: Request) -> Response:
    return KsqlJSONResponse({})


async def root_endpoint(request: Request) -> Response:
    return RedirectResponse("/info", status_code=307)


# --- authentication -----------------------------------------------------------------------------

def load_auth_file(path: str | Path) -> dict[str, str]:
    """Users and passwords, one `user: password[,role...]` (Jetty's password file) or `user:password`
    a line; `#` starts a comment."""
    users = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or ":" not in line:
            continue
        user, _, rest = line.partition(":")
        password = rest.strip().split(",", 1)[0].strip()
        users[user.strip()] = password.removeprefix("PLAIN:")
    return users


class BasicAuthMiddleware:
    """HTTP Basic authentication; everything but the Kubernetes probes needs it."""
    OPEN_PATHS = ("/chc/ready", "/chc/live")

    def __init__(self, app, users: dict[str, str]):
        self.app, self.users = app, users

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in self.OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = KsqlJSONResponse(fmt.generic_error(fmt.UNAUTHORIZED, "Unauthorized: missing or invalid credentials"),
                                    401, headers={"WWW-Authenticate": 'Basic realm="KsqlServer"'})
        await response(scope, receive, send)

    def _allowed(self, scope) -> bool:
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user in self.users and self.users[user] == password


# --- the app and its server ---------------------------------------------------------------------

def create_app(engine, auth: Optional[dict[str, str]] = None,
               send_timeout: float = SEND_TIMEOUT_SECONDS):
    routes = [
        Route("/ksql", ksql_endpoint, methods=["POST"]),
        Route("/query", query_endpoint, methods=["POST"]),
        Route("/query-stream", query_stream_endpoint, methods=["POST"]),
        Route("/inserts-stream", inserts_stream_endpoint, methods=["POST"]),
        Route("/close-query", close_query_endpoint, methods=["POST"]),
        Route("/info", info_endpoint, methods=["GET"]),
        Route("/", root_endpoint, methods=["GET"]),
        Route("/healthcheck", healthcheck_endpoint, methods=["GET"]),
        Route("/status", status_endpoint, methods=["GET"]),
        Route("/status/{type}/{entity}/{action}", command_status_endpoint, methods=["GET"]),
        Route("/is_valid_property/{name}", is_valid_property_endpoint, methods=["GET"]),
        Route("/chc/ready", probe_endpoint, methods=["GET"]),
        Route("/chc/live", probe_endpoint, methods=["GET"]),
        # The embedded schema registry, for other tools: http://host:port/schema-registry
        Mount("/schema-registry", app=engine.schema_registry_app()),
    ]
    app = Starlette(routes=routes)
    app.state.ksql = ServerState(engine, auth, send_timeout)
    if auth:
        return _WithState(BasicAuthMiddleware(app, auth), app)
    return app


class _WithState:
    """An ASGI wrapper that still exposes the wrapped Starlette app's `state`."""

    def __init__(self, asgi, app):
        self.asgi, self.state = asgi, app.state

    async def __call__(self, scope, receive, send):
        await self.asgi(scope, receive, send)


def hypercorn_config(sock: socket.socket):
    from hypercorn.config import Config
    config = Config()
    # Hypercorn owns (and closes) the descriptor it is given: hand it a duplicate.
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("ksqlite.server.http")
    config.keep_alive_timeout = 75
    config.graceful_timeout = 2
    return config


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class ServerThread:
    """A real server on a loopback port, in a background thread (tests, REST QTT, benchmarks).
    `port=0` picks a free port; `url` says which."""

    def __init__(self, engine, host: str = "127.0.0.1", port: int = 0,
                 auth: Optional[dict[str, str]] = None, send_timeout: float = SEND_TIMEOUT_SECONDS):
        self.engine = engine
        self.app = create_app(engine, auth, send_timeout)
        self.sock = bind_socket(host, port)
        self.host, self.port = host, self.sock.getsockname()[1]
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop: Optional[asyncio.Event] = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ksqlite-server", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "ServerThread":
        self.engine.start()
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        from hypercorn.asyncio import serve
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        self._loop.call_soon(self._ready.set)
        try:
            self._loop.run_until_complete(serve(self.app, hypercorn_config(self.sock),
                                                shutdown_trigger=self._stop.wait))
        finally:
            self._loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
        for query in list(self.app.state.ksql.push_queries.values()):
            query.close()
        self.sock.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(host: str = "127.0.0.1", port: int = 8088, data_dir: Optional[str] = None,
          auth_file: Optional[str] = None, properties: Optional[dict] = None) -> int:
    """`ksqlite serve`: run until Ctrl-C / SIGTERM."""
    import signal
    from pyksqlite.facade.engine import Engine
    from hypercorn.asyncio import serve as hypercorn_serve
    data_dir = data_dir or str(Path.home() / ".ksqlite" / "data")
    engine = Engine(data_dir, properties=properties)
    auth = load_auth_file(auth_file) if auth_file else None
    app = create_app(engine, auth)
    sock = bind_socket(host, port)
    engine.start()
    print(f"ksqlite server listening on http://{host}:{sock.getsockname()[1]} (data: {data_dir})", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await hypercorn_serve(app, hypercorn_config(sock), shutdown_trigger=stop.wait)

    try:
        asyncio.run(main())
    finally:
        for query in list(app.state.ksql.push_queries.values()):
            query.close()
        engine.close()
        sock.close()
    return 0
