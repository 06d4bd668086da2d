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

import dataclasses
import logging
import threading
import uuid
from pathlib import Path
from typing import Any, Optional

from pyksqlite.facade import connectors, metadata, pull, records as testrecords
from pyksqlite.facade.push_query import PushQuery
from pyksqlite.facade.results import PullResult, QueryColumn, StatementResult, TestRecord
from pyksqlite.catalog.metastore import Catalog
from pyksqlite.catalog.command_topic import DEFAULT_SERVICE_ID, CommandLog
from pyksqlite.catalog.ddl import Config
from pyksqlite.common.errors import KsqlException, KsqlStatementException, ParseFailedException
from pyksqlite.runtime.executor import Executor
from pyksqlite.facade.insert_values import InsertShapeCache
from pyksqlite.expressions import python_udf, python_udf_loading
from pyksqlite.log.api import Log, TopicConfig
from pyksqlite.log.embedded.log import EmbeddedLog
from pyksqlite.common.names import query_id_part
from pyksqlite.operators.sink import RowSink
from pyksqlite.planner.logical import LogicalPlanner
from pyksqlite.planner.physical import build_physical_plan
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.runtime.push_sink import StreamRowSink
from pyksqlite.runtime.partition_group import topics_in_tie_order
from pyksqlite.runtime.query_task import QueryTask, Scheduler
from pyksqlite.runtime.wakeup import UncommittedConsumer
from pyksqlite.grammar import ast
from pyksqlite.grammar.ast.connectors import CONNECTOR_STATEMENTS
from pyksqlite.grammar.errors import ParseError
from pyksqlite.grammar.limits import Limits
from pyksqlite.grammar.parser import parse_statement, split_statements_at, substitute_variables, substitution_enabled

COMMAND_POLL_SECONDS = 0.5   # how often a server looks for other processes' statements


class Engine:
    """A ksqlite engine over a log (the embedded one under `data_dir` by default).

    Public API (used by shell/ and tests; nothing else is):
      execute(sql, properties=None, variables=None) -> list[StatementResult]
          Runs every statement in `sql` in order. Raises engine.errors.KsqlException on the first
          statement that fails (statements before it have run; `exc.results` lists their results).
          A pull query in `sql` returns a `rows` entity; a push query is rejected: use push_query.
      push_query(sql, properties=None) -> PushQuery
      pull_query(sql, properties=None) -> PullResult
      run_until_idle(timeout=None) -> bool
          Processes input on every persistent query until no query can make progress.
      start() / close()
          A background thread that keeps persistent queries running / stop it and close the log.
      create_topic(name, partitions=1), topic_names()
      produce_test_records(records: list[TestRecord]) -> None
          Encode records with the formats of the source registered on each record's topic and
          append them (partitioned by key).
      read_topic_records(topic) -> list[TestRecord]
          Every record of a topic, decoded with the formats of the source on it (the sink).
      describe_source(name) -> dict     (ksqlDB's sourceDescription entity)
      processing_log() -> list[dict]    (records skipped: what and why)
      properties (dict): the session's properties (SET/UNSET change them)
      log: the log (engine.log.api.Log) the engine reads and writes
      schema_registry: the registry of AVRO/PROTOBUF/JSON_SR schemas (engine.registry): the
          embedded one under data_dir, or a client of `ksql.schema.registry.url` (http/https)
    """

    def __init__(self, data_dir: str | Path, properties: Optional[dict[str, Any]] = None,
                 log: Optional[Log] = None, bootstrap_servers: Optional[str] = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.properties: dict[str, Any] = dict(properties or {})
        self.variables: dict[str, str] = {}
        try:   # what one statement may cost (ksqlite.limits.*; grammar/limits.py)
            self.limits = Limits.from_properties(self.properties)
        except ValueError as error:
            raise KsqlException(str(error)) from None
        flush = str(self.properties.get("ksqlite.log.flush", "batch"))
        servers = bootstrap_servers or _bootstrap_servers(self.properties)
        if log is None and servers:
            from pyksqlite.log.kafka.log import KafkaLog  # confluent-kafka: the optional `kafka` extra
            log = KafkaLog(servers)
        self.log: Log = log if log is not None else EmbeddedLog(self.data_dir / "log", flush=flush)
        self.catalog = Catalog()
        self.scheduler = Scheduler()
        self._processing_log = ProcessingLog()
        self._commands = CommandLog(self.log, str(Config(self.properties).get("ksql.service.id",
                                                                              DEFAULT_SERVICE_ID)),
                                    report=lambda message: self._processing_log.record(None, "COMMAND_TOPIC_CORRUPT", message))
        self._stop_following = threading.Event()
        self._lock = threading.RLock()
        self._push_queries: dict[str, PushQuery] = {}
        self._insert_shapes = InsertShapeCache()
        self._replaying = False
        self._executor = Executor(self.catalog, self.log, self.scheduler, self._processing_log,
                                  Config(self.properties), self._record_command,
                                  state_root=self.data_dir / "state")
        python_udf_loading.load_configured(self.properties)  # before replay: restarted queries call them
        # The schema registry of AVRO/PROTOBUF/JSON_SR: embedded in data_dir, or external.
        from pyksqlite.serde.registry import register_handle, registry_for
        self.schema_registry = registry_for(self.properties.get("ksql.schema.registry.url"),
                                            self.data_dir / "schema-registry")
        self._executor.schema_registry = self.schema_registry
        self._executor.schema_registry_token = register_handle(self.schema_registry)
        self._set_up_processing_log()
        # Connectors: the embedded worker, or the Kafka Connect worker at ksql.connect.url.
        self.connect = connectors.connect_client(self)
        self._replay_commands()
        self._executor.limits = self.limits   # new sources' column types, from here on

    def _set_up_processing_log(self) -> None:
        """The processing-log topic and stream the properties ask for (before the replay: queries
        of the command topic may read the stream). The stream is declared, not recorded."""
        from pyksqlite.runtime import processing_log_topic
        config = Config(self.properties)

        def create_stream(statement: str) -> None:
            self._replaying = True
            try:
                self._executor.execute(parse_statement(statement, client_statements=False))
            except KsqlException as error:
                logging.getLogger("ksqlite.engine").warning("processing-log stream not created: %s", error.message)
            finally:
                self._replaying = False
        processing_log_topic.set_up(config, str(config.get("ksql.service.id", DEFAULT_SERVICE_ID)), self.log,
                                    self._processing_log, create_stream, self.scheduler.appended.notify)

    # ------------------------------------------------------------------ Python UDFs
    def register_function(self, fn, *, params, returns, name: Optional[str] = None,
                          kind: str = "scalar", **options) -> None:
        """Register a Python function callable from SQL (as the `pyksqlite.udf` decorators do).

        kind: "scalar" (vectorized over Arrow arrays unless per_row=True), "table" or
        "aggregate" (a class with initialize/aggregate/merge/map). Functions are shared by every
        Engine of the process, like ksqlDB's UDFs are by every query of a server."""
        decorator = {"scalar": python_udf.udf, "table": python_udf.udtf,
                     "aggregate": python_udf.udaf}.get(kind)
        if decorator is None:
            raise KsqlException(f"Unknown function kind '{kind}': use scalar, table or aggregate.")
        decorator(name, params=params, returns=returns, **options)(fn)

    def load_functions(self, directory: str | Path) -> list[str]:
        """Import every `*.py` file of `directory` (its decorated functions register)."""
        return python_udf_loading.load_extension_dir(directory)

    # ------------------------------------------------------------------ statements
    def execute(self, sql: str, properties: Optional[dict[str, Any]] = None,
                variables: Optional[dict[str, str]] = None) -> list[StatementResult]:
        """Run a script of `;`-separated statements; positions in errors (`Line: 2, Col: 13:`)
        are relative to the script."""
        pieces = split_statements_at(sql)
        return self.execute_statements([text for text, _ in pieces], properties, variables,
                                       starts=[at for _, at in pieces])

    def execute_statements(self, texts: list[str], properties: Optional[dict[str, Any]] = None,
                           variables: Optional[dict[str, str]] = None,
                           starts: Optional[list[tuple[int, int]]] = None) -> list[StatementResult]:
        """`execute` for statement texts already split (without their `;`), each starting at
        (line, column) `starts[i]` of its script (default 1, 1). Consecutive INSERT VALUES
        statements on one target are written as one append, with the same outcome as one at a
        time: on a failure the statements before it have run (`exc.results`)."""
        starts = starts or [(1, 1)] * len(texts)
        results: list[StatementResult] = []
        overrides = dict(properties or {})
        session_variables = {**self.variables, **(variables or {})}
        inserts: list[tuple[str, ast.InsertValues]] = []
        self.follow_commands()   # other processes' statements first: the same query ids everywhere
        for text, at in zip(texts, starts):
            try:
                statement = self._parse(text, session_variables, at)
                if isinstance(statement, ast.InsertValues):
                    if inserts and inserts[0][1].target != statement.target:
                        self._run_inserts(inserts, results)
                    inserts.append((text, statement))
                    continue
                self._run_inserts(inserts, results)
                entity = self._execute_statement(statement, overrides, session_variables)
            except KsqlException as error:
                self._run_inserts(inserts, results)   # the statements before this one run
                raise _failed(error, results, text)
            results.append(StatementResult(statement.text, entity))
        self._run_inserts(inserts, results)
        return results

    def _run_inserts(self, inserts: list[tuple[str, ast.InsertValues]], results: list[StatementResult]) -> None:
        """Run (and empty) the pending INSERT VALUES statements; raise the first one's error."""
        if not inserts:
            return
        pending = list(inserts)
        inserts.clear()
        with self._lock:
            entities, error = self._executor.insert_values([statement for _, statement in pending])
        results.extend(StatementResult(statement.text, entity)
                       for (_, statement), entity in zip(pending, entities))
        if error is not None:
            raise _failed(error, results, pending[len(entities)][0]) if isinstance(error, KsqlException) else error

    def _parse(self, text: str, variables: dict[str, str], at: tuple[int, int] = (1, 1)) -> ast.Statement:
        substituted = text
        try:
            if "${" in text and substitution_enabled(self.properties):
                substituted = substitute_variables(text, variables, self.limits)
            self.limits.check_length(substituted)
            cached = self._insert_shapes.parse(substituted)
            if cached is not None:
                return cached
            statement = parse_statement(substituted + ";", client_statements=False, at=at, limits=self.limits)
        except ParseError as error:   # the cause stays: a LimitExceeded is a bad request
            raise ParseFailedException(error.message, error.line, error.column, error.token,
                                       error.expected, substituted) from error
        self._insert_shapes.learn(substituted, statement)
        return statement

    def _execute_statement(self, statement: ast.Statement, overrides: dict[str, Any],
                           variables: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            if isinstance(statement, ast.SetProperty):
                self.properties[statement.name] = statement.value
                return {"@type": "property_set", "statementText": statement.text,
                        "property": statement.name, "value": statement.value, "warnings": []}
            if isinstance(statement, ast.UnsetProperty):
                self.properties.pop(statement.name, None)
                return {"@type": "property_unset", "statementText": statement.text,
                        "property": statement.name, "warnings": []}
            if isinstance(statement, ast.DefineVariable):
                self.variables[statement.name] = statement.value
                variables[statement.name] = statement.value
                return {"@type": "variable_set", "statementText": statement.text, "warnings": []}
            if isinstance(statement, ast.UndefineVariable):
                self.variables.pop(statement.name, None)
                variables.pop(statement.name, None)
                return {"@type": "variable_unset", "statementText": statement.text, "warnings": []}
            if isinstance(statement, ast.QueryStatement):
                if statement.query.emit is not None:
                    raise KsqlStatementException(
                        "The following statement types should be issued to the websocket endpoint '/query': "
                        "SELECT ... EMIT CHANGES, PRINT", statement.text)
                result = self._pull(statement)
                return {"@type": "rows", "statementText": statement.text, "queryId": result.query_id,
                        "columns": [c.__dict__ for c in result.columns], "rows": result.rows}
            handler = getattr(metadata, "handle_" + type(statement).__name__, None)
            if handler is not None:
                return handler(self, statement)
            if isinstance(statement, CONNECTOR_STATEMENTS):
                return connectors.handle(self, statement, self._record_command)
            previous = dict(self.properties)
            self.properties.update(overrides)
            try:
                return self._executor.execute(statement)
            finally:
                self.properties.clear()
                self.properties.update(previous)

    def _record_command(self, text: str) -> int:
        if not self._replaying:
            self._commands.append(text, self.properties)
        return 0

    def _replay_commands(self) -> None:
        entries = self._commands.entries()
        if entries:
            self._commands.applied = entries[-1][0] + 1
            self._run_commands(entry for _, entry in entries)

    def follow_commands(self) -> None:
        """Run the statements other processes of this service wrote to the shared command
        topic since the last look (a log shared between processes only)."""
        if getattr(self.log, "distributed", False):
            with self._lock:
                self._run_commands(entry for _, entry in self._commands.new_entries())

    def _run_commands(self, entries) -> None:
        self._replaying = True
        checked, self._executor.limits = self._executor.limits, None
        try:
            for entry in entries:
                saved = dict(self.properties)
                self.properties.update(entry.get("properties") or {})
                try:
                    statement = parse_statement(entry["statement"], client_statements=False, limits=REPLAY_LIMITS)
                    if isinstance(statement, CONNECTOR_STATEMENTS):
                        connectors.replay(self, statement)
                    else:
                        self._executor.execute(statement)
                except (KsqlException, ParseError) as error:  # a command that no longer applies is skipped
                    self._processing_log.record(None, "COMMAND_REPLAY", error.message)
                finally:
                    self.properties.clear()
                    self.properties.update(saved)
        finally:
            self._replaying = False
            self._executor.limits = checked

    def _follow_commands_in_background(self) -> None:
        while not self._stop_following.wait(COMMAND_POLL_SECONDS):
            try:
                self.follow_commands()
            except Exception:  # a broker hiccup: try again at the next round
                logging.getLogger("ksqlite.engine").warning("reading the command topic failed", exc_info=True)

    # ------------------------------------------------------------------ queries
    def push_query(self, sql: str, properties: Optional[dict[str, Any]] = None) -> PushQuery:
        statement = self._parse(sql.strip().rstrip(";"), self.variables)
        if not isinstance(statement, ast.QueryStatement) or statement.query.emit is None:
            raise KsqlStatementException("Not a push query (SELECT ... EMIT CHANGES).", sql)
        props = {**self.properties, **(properties or {})}
        with self._lock:
            planner = LogicalPlanner(self.catalog, persistent=False)
            # A push query streams every update of an aggregation to its client (ksqlDB's
            # push query responses show each one), unless the request sets the cache itself.
            planner.config = Config({"cache.max.bytes.buffering": 0, **props})
            plan = planner.plan(_grouped_if_aggregate(self.catalog, statement.query))
            query_id = f"transient_{query_id_part(plan.source.name)}_{uuid.uuid4().int % 10**19}"
            sink_holder = {}

            sink_class = StreamRowSink if plan.result_kind == "STREAM" else RowSink

            def make_sink(layout):
                sink_holder["sink"] = sink_class(layout, statement.query.limit)
                return sink_holder["sink"]
            physical = build_physical_plan(plan, make_sink, self._processing_log, query_id)
            reset = str(Config(props).get("auto.offset.reset", "latest"))
            consumer = self.log.consumer(f"_confluent-ksql-{query_id}", plan.topics,
                                         auto_offset_reset=reset)
            for topic, partition in consumer.assignment():  # `latest`: the end as the query starts,
                consumer.position(topic, partition)         # not at its first poll
            task = QueryTask(query_id, physical, UncommittedConsumer(consumer), max_batch=10_000,
                             topics=topics_in_tie_order(plan.relation.sources),
                             max_task_idle_ms=int(Config(props).get("max.task.idle.ms", 0)))
            columns = [QueryColumn(f.name, str(f.type), f.namespace == "KEY")
                       for f in physical.output_layout.fields]
            handle = PushQuery(query_id, columns, task, sink_holder["sink"], self._forget_push_query,
                               self.scheduler.appended)
            self._push_queries[query_id] = handle
        return handle

    def _forget_push_query(self, query_id: str) -> None:
        self._push_queries.pop(query_id, None)

    def pull_query(self, sql: str, properties: Optional[dict[str, Any]] = None,
                   cancelled: Optional[threading.Event] = None) -> PullResult:
        """`cancelled`, once set, stops the query between the batches it reads (its client left)."""
        statement = self._parse(sql.strip().rstrip(";"), self.variables)
        if not isinstance(statement, ast.QueryStatement) or statement.query.emit is not None:
            raise KsqlStatementException("Not a pull query (SELECT without EMIT).", sql)
        with self._lock:
            return self._pull(statement, properties, cancelled)

    def _pull(self, statement: ast.QueryStatement, properties: Optional[dict[str, Any]] = None,
              cancelled: Optional[threading.Event] = None) -> PullResult:
        return pull.run_pull_query(self, statement, properties, cancelled)

    # ------------------------------------------------------------------ running
    def run_until_idle(self, timeout: Optional[float] = None) -> bool:
        """Process until no query has work left, the processing log's entries written too (its
        stream may have queries)."""
        for _ in range(100):   # bounded: a query failing on the log's own records would go on
            idle = self.scheduler.run_until_idle(timeout)
            if not self._processing_log.flush():
                break
        return idle

    def caught_up(self) -> bool:
        """True if every running persistent query has processed all records on its input topics
        (a task's lock is held for a whole poll-and-process step, so positions at the end offsets
        mean the outputs of those records are in the log)."""
        from pyksqlite.runtime.query_task import RUNNING
        for task in list(self.scheduler.tasks.values()):
            if task.state != RUNNING:
                continue
            for (topic, partition), position in task.processed_positions().items():
                if position < self.log.end_offsets(topic)[partition]:
                    return False
        return True

    def start(self) -> None:
        """Run the queries in a background thread (and, on a log shared between processes, follow
        the statements the other processes of the service run)."""
        self.scheduler.start()
        if getattr(self.log, "distributed", False) and not self._stop_following.is_set():
            threading.Thread(target=self._follow_commands_in_background, name="ksqlite-commands",
                             daemon=True).start()

    def close(self) -> None:
        self._stop_following.set()
        for handle in list(self._push_queries.values()):
            handle.close()
        self.scheduler.close()
        self.connect.close()
        self._processing_log.close()
        self.log.close()

    # ------------------------------------------------------------------ topics and test records
    def create_topic(self, name: str, partitions: int = 1, **config: Any) -> None:
        self.log.create_topic(name, TopicConfig(partitions=partitions, **config), exist_ok=True)

    def topic_names(self) -> list[str]:
        return [t for t in self.log.list_topics() if not t.startswith(("_ksqlite", "_confluent-ksql-"))]

    def produce_test_records(self, records: list[TestRecord]) -> None:
        testrecords.produce(self, records)

    def read_topic_records(self, topic: str) -> list[TestRecord]:
        return testrecords.read(self, topic)

    def describe_source(self, name: str) -> dict[str, Any]:
        return metadata.describe_source(self, name)

    def schema_registry_app(self):
        """The embedded schema registry's Confluent-compatible REST API, as an ASGI app
        (the server mounts it at /schema-registry)."""
        from pyksqlite.serde.registry.http import registry_app
        return registry_app(self.schema_registry)

    def processing_log(self) -> list[dict[str, Any]]:
        return self._processing_log.entries()

    def row_from_values(self, statement: ast.Statement) -> tuple[dict[str, Any], Optional[int]]:
        """The typed column values (and ROWTIME, if given) of an INSERT VALUES or ASSERT VALUES
        statement, evaluated as INSERT VALUES would write them (the SQL test runner compares
        them with what a query produced)."""
        target = self.catalog.get_source(statement.source if hasattr(statement, "source") else statement.target)
        if target is None:
            raise KsqlStatementException(f"Source {getattr(statement, 'source', None)} does not exist.")
        values = statement.values if hasattr(statement, "values") else statement.keys
        columns = statement.columns
        if columns is None and not hasattr(statement, "values"):  # ASSERT NULL VALUES: the key
            columns = tuple(c.name for c in target.schema.key_columns)
        insert = ast.InsertValues(target.name, columns, values, text=statement.text)
        names = list(columns) if columns is not None else None
        row, rowtime = self._executor._insert_row(target, insert)
        given_rowtime = names is not None and "ROWTIME" in [n.upper() for n in names]
        return row, (rowtime if given_rowtime else None)

    def explain_query(self, query_id: str) -> str:
        task = self.scheduler.tasks.get(query_id)
        if task is None:
            raise KsqlStatementException(f"Query with id:{query_id} does not exist, "
                                         "use SHOW QUERIES to view the full set of running queries.")
        return task.plan.explain()


# A command was accepted under the limits of its time, which may have been larger than today's:
# replayed, it is only kept from exhausting the stack.
REPLAY_LIMITS = Limits(statement_chars=2 ** 40, statement_tokens=2 ** 40, expression_depth=1_000,
                       list_items=2 ** 40, type_depth=1_000)


def _failed(error: KsqlException, results: list[StatementResult], text: str) -> KsqlException:
    """`error`, saying which statement failed and what the statements before it returned."""
    error.results = results
    error.statement_text = error.statement_text or text
    return error


def _bootstrap_servers(properties: dict[str, Any]) -> Optional[str]:
    """The Kafka cluster the properties name, if any. A server on port 0 names none: QTT's base
    config sets `ksql.streams.bootstrap.servers=localhost:0` as a placeholder."""
    for name in ("ksql.streams.bootstrap.servers", "bootstrap.servers"):
        value = str(properties.get(name) or "").strip()
        if value and not all(server.strip().endswith(":0") for server in value.split(",")):
            return value
    return None


def _grouped_if_aggregate(catalog: Catalog, query: ast.Query) -> ast.Query:
    """A push query may aggregate without GROUP BY (`SELECT COUNT(*) FROM s EMIT CHANGES`): the
    whole stream is one group, so it is grouped by a constant, as ksqlDB does."""
    from pyksqlite.planner.logical import _is_aggregation
    if query.group_by or not _is_aggregation(query):
        return query
    return dataclasses.replace(query, group_by=(ast.IntegerLiteral(1),))
