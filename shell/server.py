"""`ksqlite serve`: ksqlDB's REST API (reference section 4) over the embedded engine.

Starlette routes the requests; Hypercorn serves them over HTTP/1.1 and HTTP/2 (h2c with prior
knowledge, as the Java client uses, and h2c upgrade), so no HTTP is written by hand here. Engine
calls block, so they run in the thread pool; push query rows are streamed by `server_streams`.
Persistent queries run in the engine's background scheduler (`pyksqlite.start()`), between requests
and, since the engine replays its command log, across a restart on the same data directory.

Every request is bounded before work is done for it (`server_requests`: body size, JSON types,
property overrides; `pyksqlite.grammar.limits`: statement size and shape), runs only while its client is
there, and fails as ksqlDB fails: 400 with a `generic_error` or `statement_error` body, or 500
with a reference to the server log, never a traceback. The process side (binding, auth, signals)
is in `server_process`.

    app = create_app(engine, auth=None)          # an ASGI app (tests may drive it directly)
    with ServerThread(engine, port=0) as server:  # a real server on a loopback port
        server.url                               # http://127.0.0.1:<port>
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Optional

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from pyksqlite.common.errors import KsqlException, LogWriteException
from pyksqlite.grammar import ast
from pyksqlite.grammar.errors import ParseError
from pyksqlite.grammar.limits import LimitExceeded
from pyksqlite.grammar.parser import leading_word, parse_statement, split_statements, substitute_variables
from pyksqlite.shell import server_formats as fmt
from pyksqlite.shell import server_inserts, server_streams
from pyksqlite.shell.server_auth import AuthSettings, BasicAuthMiddleware
from pyksqlite.shell.server_requests import (BadRequest, DisconnectWatch, ErrorGuard, bad_request_response,
                                   check_ksql_request, check_property, check_property_name, internal_error, json_object,
                                   json_response, request_bytes_limit, starlette_error_handler)

logger = logging.getLogger("ksqlite.server")

VERSION = "8.5.0"
SEND_TIMEOUT_SECONDS = 10.0
# Statements between SETs go to the engine in groups of at most this many, so that a request
# of many statements stops soon after its client disconnects.
STATEMENTS_PER_CALL = 200


class ServerState:
    """What the routes share: the engine, the running push queries, the command statuses."""

    def __init__(self, engine, send_timeout: float = SEND_TIMEOUT_SECONDS, service_id: str = "default_"):
        self.engine = engine
        self.send_timeout = send_timeout
        self.service_id = service_id
        self.limits = engine.limits
        self.request_bytes = request_bytes_limit(engine.properties)
        self.push_queries: dict[str, Any] = {}
        self.statuses: dict[str, dict[str, Any]] = {}


def _state(request: Request) -> ServerState:
    return request.app.state.ksql


def _media_type(request: Request, offered: list[str], default: str) -> Optional[str]:
    return fmt.negotiate(request.headers.get("accept"), offered, default)


def _statement_text(text: str) -> str:
    text = text.strip()
    return text if text.endswith(";") else text + ";"


def _failure(exc: KsqlException, text: str, entities: list[dict], media: str = fmt.V1_JSON) -> Response:
    """A statement's error as ksqlDB answers it; a statement over a limit is a bad request."""
    if isinstance(exc.__cause__, LimitExceeded):
        return json_response(fmt.generic_error(fmt.BAD_REQUEST, exc.__cause__.message), 400, media)
    if isinstance(exc, LogWriteException):   # the log could not store it (a full disk): not the client's fault
        body = fmt.statement_error(fmt.SERVER_ERROR, exc.message, exc.statement_text or text, entities)
        return json_response(body, 500, media)
    body = fmt.statement_error(fmt.BAD_STATEMENT, exc.message, exc.statement_text or text, entities)
    return json_response(body, 400, media)


def _check_lengths(state: ServerState, texts: list[str]) -> None:
    for text in texts:
        try:
            state.limits.check_length(text)
        except LimitExceeded as error:
            raise BadRequest(error.message) from None


# --- /ksql --------------------------------------------------------------------------------------

async def ksql_endpoint(request: Request) -> Response:
    state = _state(request)
    media = _media_type(request, [fmt.V1_JSON, fmt.JSON], fmt.V1_JSON) or fmt.V1_JSON
    try:
        body = await json_object(request, state.request_bytes)
        sql, properties, variables = check_ksql_request(body, "ksql", "streamsProperties")
        statements = split_statements(sql)
        _check_lengths(state, statements)
    except BadRequest as error:
        return bad_request_response(error, media)
    for text in statements:
        if leading_word(text) in ("SELECT", "PRINT"):
            return json_response(fmt.statement_error(fmt.QUERY_ENDPOINT, fmt.QUERY_ENDPOINT_MESSAGE,
                                                     _statement_text(text)), 400, media)
    watch = DisconnectWatch(request)
    try:
        run = _KsqlRun(state, properties, variables, watch)
        return await run_in_threadpool(run.run, statements, media)
    finally:
        watch.stop()


class _KsqlRun:
    """The statements of one /ksql request, run in a worker thread: SET/UNSET change this
    request's properties; the statements between them go to the engine in groups (it appends
    consecutive INSERTs in one go); a client that disconnects stops the rest."""

    def __init__(self, state: ServerState, properties: dict, variables: dict, watch: DisconnectWatch):
        self.state, self.properties, self.variables, self.watch = state, properties, variables, watch
        self.entities: list[dict] = []

    def run(self, statements: list[str], media: str) -> Response:
        pending: list[str] = []
        for text in statements:
            setting = self._setting(text)
            if setting is None:
                pending.append(text)
                if len(pending) >= STATEMENTS_PER_CALL:
                    failed, pending = self._execute(pending, media), []
                    if failed is not None:
                        return failed
                continue
            failed, pending = self._execute(pending, media), []
            if failed is not None:
                return failed
            try:
                self._apply(setting)
            except BadRequest as error:
                return bad_request_response(error, media)
        return self._execute(pending, media) or json_response(self.entities, 200, media)

    def _setting(self, text: str) -> Optional[ast.Statement]:
        """A SET or UNSET statement (over REST it lasts for the rest of its request only)."""
        if leading_word(text) not in ("SET", "UNSET"):
            return None
        try:
            statement = parse_statement(text, limits=self.state.limits)
        except ParseError:
            return None      # the engine reports the syntax error
        return statement if isinstance(statement, (ast.SetProperty, ast.UnsetProperty)) else None

    def _apply(self, setting: ast.Statement) -> None:
        if isinstance(setting, ast.SetProperty):
            self.properties[setting.name] = check_property(setting.name, setting.value)
        else:
            self.properties.pop(setting.name, None)

    def _execute(self, texts: list[str], media: str) -> Optional[Response]:
        if not texts:
            return None
        if self.watch.gone.is_set():
            logger.warning("the client of a /ksql request left: %d statements not run", len(texts))
            return Response(b"", 499)    # nobody reads it
        try:
            results = self.state.engine.execute_statements(texts, properties=dict(self.properties),
                                                           variables=self.variables)
        except KsqlException as exc:
            self._add(exc.results or [])
            return _failure(exc, _statement_text(exc.statement_text or texts[0]), self.entities, media)
        except Exception as exc:  # noqa: BLE001 - an engine bug still answers in ksqlDB's shape
            return internal_error(exc)
        self._add(results)
        return None

    def _add(self, results: list) -> None:
        """ksqlDB answers INSERT VALUES with no entity; ksql-python 0.10.2 then fails on `[][0]`
        (its issue #80), so the engine's currentStatus is kept."""
        for result in results:
            entity = dict(result.entity)
            entity["statementText"] = _statement_text(entity.get("statementText") or result.statement_text)
            self.entities.append(entity)
            if "commandId" in entity and "commandStatus" in entity:
                self.state.statuses[entity["commandId"]] = dict(entity["commandStatus"])


# --- /query and /query-stream -------------------------------------------------------------------

def _parse_query(state: ServerState, sql: str, variables: dict) -> tuple[str, ast.Statement]:
    statements = split_statements(sql)
    if len(statements) != 1:
        raise KsqlException(f"Expected exactly one KSQL statement; found {len(statements)} instead", sql)
    text = statements[0]
    merged = {**state.engine.variables, **variables}
    try:
        substituted = substitute_variables(text, merged, state.limits) if merged else text
        statement = parse_statement(substituted, client_statements=True, limits=state.limits)
    except ParseError as error:
        raise KsqlException(f"{error.message}\nStatement: {text}", text) from error
    return substituted, statement


async def _run_query(request: Request, sql: str, properties: dict, variables: dict,
                     media: str) -> Response:
    state = _state(request)
    engine = state.engine
    try:
        _check_lengths(state, [sql])
        text, statement = await run_in_threadpool(_parse_query, state, sql, variables)
        if isinstance(statement, ast.Print):
            return _print_response(request, state, statement, text, media)
        if not isinstance(statement, ast.QueryStatement):
            raise KsqlException("Statement type not supported on the query endpoint: "
                                f"{type(statement).__name__}. Use /ksql.", _statement_text(text))
        if statement.query.emit is None:
            result = await _unless_client_leaves(
                request, lambda gone: engine.pull_query(text, properties, cancelled=gone))
            if result is None:
                return Response(b"", 204)
            return server_streams.PullResponse(result, media, state.send_timeout)
        query = await run_in_threadpool(engine.push_query, text, properties)
        return server_streams.PushResponse(query, media, state.push_queries, state.send_timeout,
                                           _scalable_push_id(engine, statement, properties))
    except BadRequest as error:
        return bad_request_response(error)
    except KsqlException as exc:
        return _failure(exc, _statement_text(sql), [])


def _print_response(request: Request, state: ServerState, statement: ast.Print, text: str,
                    media: str) -> Response:
    if media not in (fmt.DELIMITED, fmt.V1_JSON) and request.url.path == "/query-stream":
        return json_response(fmt.generic_error(40600, "PRINT requires the delimited format"), 406)
    if not state.engine.log.topic_exists(statement.topic):
        raise KsqlException(f"Could not find topic '{statement.topic}', "
                            "or the KSQL user does not have permissions to list the topic. "
                            "Topic names are case-sensitive.", _statement_text(text))
    return server_streams.PrintResponse(state.engine, statement, "text/plain" if media == fmt.V1_JSON
                                        else media, state.send_timeout)


async def _unless_client_leaves(request: Request, work):
    """`work(gone)` in a worker thread, `gone` an Event set when the client disconnects (the work
    may stop on it); None if the client disconnects first (nobody is left to read a result)."""
    watch = DisconnectWatch(request)
    future = asyncio.ensure_future(run_in_threadpool(work, watch.gone))
    gone = asyncio.ensure_future(watch.gone_async.wait())
    try:
        await asyncio.wait({future, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.stop()
        gone.cancel()
    if future.done():
        return future.result()
    future.add_done_callback(_drop_result)
    logger.info("client left %s before its statement finished", request.url.path)
    return None


def _drop_result(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.info("an abandoned statement failed: %s", type(future.exception()).__name__)


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
    return f"SCALABLE_PUSH_QUERY_{uuid.uuid4()}"


async def query_endpoint(request: Request) -> Response:
    """The old streaming API: always the StreamedRow array, one element per line."""
    try:
        body = await json_object(request, _state(request).request_bytes)
        sql, properties, variables = check_ksql_request(body, "ksql", "streamsProperties")
    except BadRequest as error:
        return bad_request_response(error)
    return await _run_query(request, sql, properties, variables, fmt.V1_JSON)


async def query_stream_endpoint(request: Request) -> Response:
    media = _media_type(request, [fmt.DELIMITED, fmt.JSON, fmt.V1_JSON], fmt.DELIMITED)
    if media is None:
        return json_response(fmt.generic_error(40600, "Unsupported Accept header"), 406)
    try:
        body = await json_object(request, _state(request).request_bytes)
        sql, properties, variables = check_ksql_request(body, "sql", "properties")
    except BadRequest as error:
        return bad_request_response(error)
    return await _run_query(request, sql, properties, variables, media)


async def close_query_endpoint(request: Request) -> Response:
    state = _state(request)
    try:
        body = await json_object(request, state.request_bytes)
        query_id = body.get("queryId")
        if not isinstance(query_id, str):
            raise BadRequest("'queryId' must be a string")
    except BadRequest as error:
        return bad_request_response(error)
    query = state.push_queries.pop(query_id, None)
    if query is None:
        return bad_request_response(BadRequest(f"No query with id {query_id[:200]}"))
    await run_in_threadpool(query.close)
    return Response(b"", 200)


async def inserts_stream_endpoint(request: Request) -> Response:
    if request.scope.get("http_version") != "2":
        return json_response(fmt.generic_error(fmt.HTTP2_ONLY, "This endpoint is only available when using HTTP2"), 400)
    state = _state(request)
    return server_inserts.InsertsStream(state.engine, state.request_bytes, state.send_timeout)


# --- small endpoints ----------------------------------------------------------------------------

async def info_endpoint(request: Request) -> Response:
    state = _state(request)
    return json_response({"KsqlServerInfo": {
        "version": VERSION, "kafkaClusterId": "ksqlite-embedded", "ksqlServiceId": state.service_id,
        "serverStatus": "RUNNING"}}, media_type=_media_type(request, [fmt.V1_JSON, fmt.JSON], fmt.V1_JSON) or fmt.V1_JSON)


async def healthcheck_endpoint(request: Request) -> Response:
    return json_response({"isHealthy": True, "details": {
        "metastore": {"isHealthy": True}, "kafka": {"isHealthy": True},
        "commandRunner": {"isHealthy": True}}, "serverState": "READY"})


async def status_endpoint(request: Request) -> Response:
    return json_response({k: v["status"] for k, v in _state(request).statuses.items()})


async def command_status_endpoint(request: Request) -> Response:
    params = request.path_params
    entity = params["entity"]
    for command_id, status in _state(request).statuses.items():
        kind, name, action = _split_command_id(command_id)
        if kind == params["type"] and name.upper() == entity.upper() and action == params["action"]:
            return json_response(status)
    return json_response(fmt.generic_error(fmt.NOT_FOUND, "Command not found"), 404)


def _split_command_id(command_id: str) -> tuple[str, str, str]:
    kind, _, rest = command_id.partition("/")
    name, _, action = rest.rpartition("/")
    return kind, name.strip("`"), action


async def is_valid_property_endpoint(request: Request) -> Response:
    try:
        check_property_name(request.path_params["name"])
    except BadRequest as error:
        return bad_request_response(error)
    return json_response(True)


async def probe_endpoint(request: Request) -> Response:
    return json_response({})


async def root_endpoint(request: Request) -> Response:
    return RedirectResponse("/info", status_code=307)


# --- the app ------------------------------------------------------------------------------------

def create_app(engine, auth: Optional[AuthSettings] = None, send_timeout: float = SEND_TIMEOUT_SECONDS):
    """The ASGI app: the routes, behind authentication (when `auth` is given) and the guard that
    turns any unexpected exception into a logged 500."""
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
    app = Starlette(routes=routes, exception_handlers={Exception: starlette_error_handler})
    app.state.ksql = ServerState(engine, send_timeout)
    asgi = BasicAuthMiddleware(app, auth) if auth is not None else app
    return _WithState(ErrorGuard(asgi), app)


class _WithState:
    """An ASGI wrapper that still exposes the wrapped Starlette app's `state`."""

    def __init__(self, asgi, app):
        self.asgi, self.state = asgi, app.state

    async def __call__(self, scope, receive, send):
        await self.asgi(scope, receive, send)
