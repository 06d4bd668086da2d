"""Statement execution: one handler per statement kind, each returning a ksqlDB REST entity.

A handler validates everything before it changes anything, so a rejected statement leaves the
catalog, the topics and the running queries as they were. Statements that change the catalog
are recorded in the command log (`pyksqlite.catalog.command_topic`) after they succeed, so that a restart
rebuilds the same catalog and resumes the same queries.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Any, Callable, Optional

import pyarrow as pa

from pyksqlite.catalog import ddl, entities
from pyksqlite.common import messages
from pyksqlite.runtime import query_upgrade
from pyksqlite.catalog.metastore import STREAM, TABLE, Catalog, DataSource, PersistentQuery
from pyksqlite.catalog.ddl import Config
from pyksqlite.common.errors import KsqlException, KsqlStatementException, LogWriteException
from pyksqlite.expressions import coercion
from pyksqlite.expressions.compiler import evaluate_constant
from pyksqlite.log.api import HEADER_TYPE, Log, LogError, TopicConfig
from pyksqlite.common.names import check_generated_query_id, check_query_id, check_topic_name, inside, query_id_part
from pyksqlite.operators.sink import TopicSink
from pyksqlite.runtime.partition_group import topics_in_tie_order
from pyksqlite.runtime.partition_tasks import PartitionedQueryTask, changelog_topic_name, is_partition_aligned
from pyksqlite.planner.logical import LogicalPlan, LogicalPlanner
from pyksqlite.planner.physical import build_physical_plan
from pyksqlite.planner.sanitize import projected_names, sanitized_text
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.serde.registry import sources as sr_sources
from pyksqlite.runtime.repartition import plan_repartition, repartition_task_id
from pyksqlite.runtime.query_task import QueryTask, Scheduler
from pyksqlite.common.schema import HEADER, HEADERS, KEY, VALUE, Column, LogicalSchema
from pyksqlite.serde import json_rows
from pyksqlite.serde.factory import create_serde
from pyksqlite.common.types import to_arrow
from pyksqlite.grammar import ast
from pyksqlite.grammar.formatter import format_expression
from pyksqlite.grammar.limits import LimitExceeded, Limits, check_type_depth
from pyksqlite.grammar.parser import parse_statement

logger = logging.getLogger("ksqlite.executor")


class Executor:
    def __init__(self, catalog: Catalog, log: Log, scheduler: Scheduler, processing_log: ProcessingLog,
                 config: Config, record_command: Callable[[str], int], state_root=None):
        self.catalog = catalog
        self.log = log
        self.scheduler = scheduler
        self.processing_log = processing_log
        self.config = config
        self.record_command = record_command
        self.state_root = state_root  # a directory per query holds its checkpoints
        self.query_counter = 0
        self.sequence = 0
        self._serdes_by_signature: dict[tuple, tuple] = {}   # INSERT VALUES serdes
        # When set, the columns of a new stream or table nest their types within these limits
        # (a query can make a type deeper than any statement wrote it). Off while replaying.
        self.limits: Optional[Limits] = None

    # ------------------------------------------------------------------ dispatch
    def execute(self, statement: ast.Statement) -> dict[str, Any]:
        handler = getattr(self, "_" + type(statement).__name__, None)
        if handler is None:
            raise KsqlStatementException(f"Statement not supported: {type(statement).__name__}")
        return handler(statement)

    def _status(self, statement, command_id: str, message: str, query_id: Optional[str] = None):
        self.sequence += 1
        return entities.current_status(statement.text, command_id, message, self.sequence, query_id)

    # ------------------------------------------------------------------ CREATE STREAM / TABLE
    def _CreateSource(self, stmt: ast.CreateSource) -> dict[str, Any]:
        kind_word = stmt.kind.lower()
        if stmt.or_replace and stmt.is_source:
            raise KsqlStatementException(
                f"Cannot add {kind_word} '{stmt.name}': CREATE OR REPLACE is not supported on source {kind_word}s.")
        existing = self.catalog.get_source(stmt.name)
        if existing is not None:
            if stmt.if_not_exists:
                return self._status(stmt, f"{kind_word}/`{stmt.name}`/create",
                                    f"A {existing.kind.lower()} with the same name already exists")
            self._check_replace(stmt, existing)
        props = stmt.props()
        elements = self._with_registry_columns(stmt, props)
        schema = ddl.parse_columns(self.catalog, stmt.kind, elements)
        self._check_type_depth(schema)
        window = ddl.window_info(props)
        if window is not None and not schema.key_columns:
            raise KsqlStatementException("Windowed sources require a key column.")
        topic = props.get("KAFKA_TOPIC")
        if topic is None:
            raise KsqlStatementException("Missing required property \"KAFKA_TOPIC\" which has no default value.")
        check_topic_name(str(topic))
        key_format, value_format = ddl.resolve_formats(props, self.config, bool(schema.key_columns),
                                                       value_columns=len(schema.value_columns))
        if not elements:
            raise KsqlStatementException("The statement does not define any columns.")
        key_format, value_format = self._attach_registry(key_format, value_format, str(topic), props)
        ts_column, ts_format = ddl.check_timestamp_column(schema, props)
        source = DataSource(stmt.name, stmt.kind, schema, str(topic), key_format, value_format,
                            ts_column, ts_format, window, stmt.is_source, stmt.text, props)
        if existing is not None:   # CREATE OR REPLACE: the queries reading it must still fit
            query_upgrade.check_sink_upgrade(existing, source)
        _check_serdes(source)
        self._ensure_topic(str(topic), props, stmt.kind)
        self.catalog.add_source(source)
        self.record_command(stmt.text)
        noun = "Stream" if stmt.kind == STREAM else "Table"
        return self._status(stmt, f"{kind_word}/`{stmt.name}`/create", f"{noun} created")

    def _check_type_depth(self, schema) -> None:
        if self.limits is None:
            return
        for column in schema.columns:
            try:
                check_type_depth(column.name, column.type, self.limits)
            except LimitExceeded as error:
                raise KsqlStatementException(error.message) from error

    def _with_registry_columns(self, stmt: ast.CreateSource, props: dict) -> tuple:
        """The statement's columns plus those inferred from the schema registry (AVRO, PROTOBUF,
        JSON_SR sources declared without key or value columns)."""
        has_key = any(c.constraint in ("KEY", "PRIMARY KEY") for c in stmt.columns)
        has_value = any(c.constraint is None for c in stmt.columns)
        sr_sources.check_properties(props, self.config, has_key, has_value, is_create=True)
        topic = props.get("KAFKA_TOPIC")
        if topic is None:
            return stmt.columns
        check_topic_name(str(topic))
        wrap = props.get("WRAP_SINGLE_VALUE")
        keys, values = sr_sources.infer_columns(getattr(self, "schema_registry", None), props, self.config,
                                                str(topic), has_key, has_value,
                                                None if wrap is None else str(wrap).lower() == "true")
        key_constraint = "PRIMARY KEY" if stmt.kind == TABLE else "KEY"
        inferred_keys = tuple(ast.ColumnDef(c.name, c.type, key_constraint) for c in keys)
        inferred_values = tuple(ast.ColumnDef(c.name, c.type, None) for c in values)
        return inferred_keys + tuple(stmt.columns) + inferred_values

    def _attach_registry(self, key_format, value_format, topic: str, props: dict):
        token = getattr(self, "schema_registry_token", None)
        return (sr_sources.attach(key_format, token, topic, "KEY", props),
                sr_sources.attach(value_format, token, topic, "VALUE", props))

    def _check_replace(self, stmt, existing: DataSource) -> None:
        kind_word = stmt.kind.lower()
        is_source = getattr(stmt, "is_source", False)
        if not stmt.or_replace:
            raise KsqlStatementException(
                f"Cannot add {kind_word} '{stmt.name}': A {existing.kind.lower()} with the same name already exists")
        if is_source or existing.is_source:
            raise KsqlStatementException(
                f"Cannot add {kind_word} '{stmt.name}': CREATE OR REPLACE is not supported on source {kind_word}s.")
        if existing.kind != stmt.kind:
            raise KsqlStatementException(
                f"Cannot add {kind_word} '{stmt.name}': A {existing.kind.lower()} with the same name already exists")

    def _ensure_topic(self, topic: str, props: dict, kind: str) -> None:
        partitions = props.get("PARTITIONS")
        if self.log.topic_exists(topic):
            if partitions is not None:
                existing = self.log.topic_config(topic).partitions
                if partition_count(partitions) != existing:
                    raise KsqlStatementException(
                        f"A Kafka topic with the name '{topic}' already exists, with different partition/replica "
                        f"configuration than required. KSQL expects {partitions} partitions (topic has {existing}), "
                        "1 replication factor (topic has 1).")
            return
        if partitions is None:
            raise KsqlStatementException(
                f"Topic '{topic}' does not exist. If you want to create a new topic for the {kind.lower()} "
                "please re-run the statement providing the required 'PARTITIONS' configuration in the WITH "
                f"clause (and optionally 'REPLICAS'). For example: CREATE {kind} X (ID INT KEY, A STRING) "
                f"WITH (KAFKA_TOPIC='{topic}', PARTITIONS=2, REPLICAS=1, FORMAT='JSON');")
        self.log.create_topic(topic, _topic_config(partition_count(partitions), props), exist_ok=True)

    # ------------------------------------------------------------------ C*AS and INSERT INTO
    def _CreateAsSelect(self, stmt: ast.CreateAsSelect) -> dict[str, Any]:
        kind_word = stmt.kind.lower()
        existing = self.catalog.get_source(stmt.name)
        if existing is not None:
            if stmt.if_not_exists:
                return self._status(stmt, f"{kind_word}/`{stmt.name}`/create",
                                    f"A {existing.kind.lower()} with the same name already exists")
            self._check_replace(stmt, existing)
        _check_timestamp_projected(self.catalog, stmt)
        planner = LogicalPlanner(self.catalog, persistent=True)
        planner.config = self.config  # aggregations read function limits and the cache setting
        plan = planner.plan(stmt.query, stmt.name)
        _check_join_partitions(plan, self.log, self.catalog)
        self._check_result_kind(stmt, plan)
        props = stmt.props()
        try:
            sink = self._sink_source(stmt.name, stmt.kind, plan, props, stmt.text)
            self._check_type_depth(sink.schema)
            _check_serdes(sink)
        except KsqlException as error:
            # ksqlDB quotes the statement it executes: as its sanitizer rewrote it.
            error.statement_text = error.statement_text or sanitized_text(self.catalog, stmt)
            raise
        sr_sources.register_sink(getattr(self, "schema_registry", None), sink, create_serde)
        prefix = "CSAS" if stmt.kind == STREAM else "CTAS"
        partitions = props.get("PARTITIONS") or self.config.get("ksql.sink.partitions") or \
            self.log.topic_config(plan.source.topic).partitions
        replaced = self._query_replaced(stmt, existing, sink, props) if existing is not None else None
        if replaced is not None:   # an in-place upgrade: same id, group and state, new plan
            query_id = replaced.query_id
            self._stop_query(query_id)
        else:
            query_id = self._next_query_id(f"{prefix}_{query_id_part(stmt.name)}")
            if existing is not None:
                for old in self.catalog.queries_writing(stmt.name):
                    self._stop_query(old.query_id)
        self.log.create_topic(sink.topic, _topic_config(partition_count(partitions), props), exist_ok=True)
        self.catalog.add_source(sink)
        self._start_query(query_id, stmt.text, plan, sink, stmt.query)
        self.record_command(stmt.text)
        return self._status(stmt, f"{kind_word}/`{stmt.name}`/create",
                            f"Created query with ID {query_id}", query_id)

    def _query_replaced(self, stmt: ast.CreateAsSelect, existing: DataSource, sink: DataSource,
                        props: dict) -> Optional[PersistentQuery]:
        """The C*AS query that CREATE OR REPLACE upgrades in place (checked compatible, as
        `pyksqlite.runtime.query_upgrade` says), or None when no C*AS query writes the sink."""
        writer = next((q for q in self.catalog.queries_writing(stmt.name)
                       if q.query_id.startswith(("CSAS_", "CTAS_"))), None)
        if writer is None:
            return None
        asked = props.get("PARTITIONS")
        partitions = None
        if asked is not None and self.log.topic_exists(existing.topic):
            partitions = (self.log.topic_config(existing.topic).partitions, int(asked))
        query_upgrade.check_sink_upgrade(existing, sink, partitions)
        old_statement = parse_statement(writer.statement_text, client_statements=False)
        from pyksqlite.expressions.default_functions import default_registry
        registry = default_registry()
        query_upgrade.check_query_upgrade(writer.query_id, old_statement.query, stmt.query,
                                          lambda name: registry.kind_of(name) == "aggregate")
        return writer

    def _check_result_kind(self, stmt: ast.CreateAsSelect, plan: LogicalPlan) -> None:
        if stmt.kind == TABLE and plan.result_kind == STREAM:
            raise KsqlStatementException(
                "Invalid result type. Your SELECT query produces a STREAM. "
                "Please use CREATE STREAM AS SELECT statement instead.")
        if stmt.kind == STREAM and plan.result_kind == TABLE:
            raise KsqlStatementException(
                "Invalid result type. Your SELECT query produces a TABLE. "
                "Please use CREATE TABLE AS SELECT statement instead.")

    def _sink_source(self, name: str, kind: str, plan: LogicalPlan, props: dict, text: str) -> DataSource:
        schema = plan.schema()
        for column in schema.key_columns:
            ddl.check_key_type(column.name, column.type)
        prefix = self.config.get("ksql.output.topic.name.prefix", "") or ""
        given = props.get("KAFKA_TOPIC")
        topic = check_topic_name(str(given) if given is not None else f"{prefix}{name}")
        key_format, value_format = ddl.resolve_formats(props, self.config, bool(schema.key_columns),
                                                       inherited=plan.source,
                                                       value_columns=len(schema.value_columns),
                                                       key_inherited=list(plan.relation.sources))
        ts_column, ts_format = ddl.check_timestamp_column(schema, props)
        sr_sources.check_properties(props, self.config, True, True, is_create=False,
                                    resolved={"KEY": key_format.name, "VALUE": value_format.name})
        key_format, value_format = self._attach_registry(key_format, value_format, topic, props)
        return DataSource(name, kind, schema, topic, key_format, value_format, ts_column, ts_format,
                          plan.window, False, text, props)

    def _InsertInto(self, stmt: ast.InsertInto) -> dict[str, Any]:
        target = self.catalog.get_source(stmt.target)
        if target is None:
            raise messages.unknown_sink(stmt.target, stmt.target_pos)
        if target.is_table:
            raise KsqlStatementException(
                f"INSERT INTO can only be used to insert into a stream. {target.name} is a table.")
        if target.is_source:
            raise KsqlStatementException(f"Cannot insert into read-only stream: {target.name}")
        planner = LogicalPlanner(self.catalog, persistent=True)
        planner.config = self.config
        plan = planner.plan(stmt.query, stmt.target)
        _check_join_partitions(plan, self.log, self.catalog)
        if plan.result_kind != STREAM:
            raise KsqlStatementException(
                f"Incompatible data sink and query result. Data sink ({target.name}) type is STREAM "
                "but select query result is TABLE.")
        if any(c.namespace in (HEADERS, HEADER) for c in target.schema.columns):
            raise KsqlStatementException(
                f"Cannot insert into {target.name} because it has header columns")
        if not _insertable(plan.schema(), target.schema):
            raise KsqlStatementException(
                f"Incompatible schema between results and sink.\n"
                f"Result schema is {plan.schema().describe()}\n"
                f"Sink schema is {target.schema.describe()}")
        given = stmt.props().get("QUERY_ID")
        query_id = check_query_id(given) if given is not None else self._next_query_id("INSERTQUERY")
        self._start_query(query_id, stmt.text, plan, target, stmt.query)
        self.record_command(stmt.text)
        return self._status(stmt, f"stream/`{target.name}`/create",
                            f"Created query with ID {query_id}", query_id)

    def _next_query_id(self, prefix: str) -> str:
        query_id = f"{prefix}_{self.query_counter}"
        self.query_counter += 1
        return query_id

    def _start_query(self, query_id: str, text: str, plan: LogicalPlan, sink: DataSource,
                     query: Optional[ast.Query] = None) -> None:
        check_generated_query_id(query_id)
        group = self._query_group(query_id)
        sources = plan.sources
        repartitioned = None
        if query is not None and self._splits_queries():
            repartitioned = self._start_repartition(query_id, group, query, plan, sink)
        if repartitioned is not None:   # aligned with the repartition topic by construction
            plan = repartitioned
            task = self._partitioned_task(query_id, group, plan, self._plan_builder(query_id, plan, sink))
        elif self._runs_partitioned(query_id, plan):
            task = self._partitioned_task(query_id, group, plan, self._plan_builder(query_id, plan, sink))
        else:
            state_dir = inside(self.state_root, query_id) if self.state_root else None
            transaction = self._transaction(group)
            consumer = self._consumer(group, plan.topics)
            build_plan = self._plan_builder(query_id, plan, sink)
            task = QueryTask(query_id, build_plan(), consumer, state_dir=state_dir,
                             checkpoint_interval=self._checkpoint_interval(transaction is not None),
                             build_plan=build_plan,
                             report=lambda message: self.processing_log.record(query_id, "STATE", message),
                             topics=topics_in_tie_order(plan.relation.sources),
                             max_task_idle_ms=self._max_task_idle_ms(), transaction=transaction)
        self.scheduler.add(task)
        self.catalog.queries[query_id] = PersistentQuery(query_id, text, sink.name, sources)

    def _plan_builder(self, query_id: str, plan: LogicalPlan, sink: DataSource) -> Callable[[], Any]:
        def build_plan():
            return build_physical_plan(
                plan, lambda layout: TopicSink(sink, layout, self.log, self.processing_log, query_id,
                                               keeps_input_key=not getattr(plan, "partitioned_by", True)),
                self.processing_log, query_id)
        return build_plan

    def _query_group(self, query_id: str) -> str:
        return f"_confluent-ksql-{self.config.get('ksql.service.id', 'default_')}query_{query_id}"

    def _offset_reset(self) -> str:
        """Where a query with no committed offsets starts: `latest` (ksqlDB's default) unless the
        session or server sets `auto.offset.reset` (or `ksql.streams.auto.offset.reset`)."""
        return str(self.config.get("auto.offset.reset", "latest")).lower()

    def _consumer(self, group: str, topics):
        """The query's consumer, its starting positions fixed now: with `latest`, records
        written after the statement returns are the query's, even before its first poll."""
        consumer = self.log.consumer(group, topics, auto_offset_reset=self._offset_reset())
        if self._offset_reset() == "latest":
            committed = consumer.committed()
            starts = {tp: consumer.position(*tp) for tp in consumer.assignment() if tp not in committed}
            if starts:   # kept, so that a restart before the first commit starts there too
                consumer.commit(starts)
        return consumer

    def _max_task_idle_ms(self) -> int:
        """Kafka Streams' `max.task.idle.ms` as ksqlDB passes it through (default 0: wait only for
        partitions known to have unread records; see `pyksqlite.runtime.partition_group`)."""
        return int(self.config.get("max.task.idle.ms", 0))

    def _checkpoint_interval(self, exactly_once: bool = False) -> float:
        """Seconds between commits: under exactly-once Kafka Streams' `commit.interval.ms` (100 by
        default there), else how often state is checkpointed (`ksqlite.checkpoint.interval.ms`)."""
        if exactly_once:
            return float(self.config.get("commit.interval.ms", 100)) / 1000
        return float(self.config.get("ksqlite.checkpoint.interval.ms", 1000)) / 1000

    def _exactly_once(self) -> bool:
        guarantee = str(self.config.get("processing.guarantee", "at_least_once")).lower()
        if guarantee in _EXACTLY_ONCE:
            return True
        if guarantee != "at_least_once":
            raise KsqlStatementException(f"Invalid value {guarantee} for configuration processing.guarantee: "
                                         "String must be one of: at_least_once, exactly_once, exactly_once_v2")
        return False

    def _transaction(self, group: str):
        """The query's transactional writer under exactly-once (None: at-least-once)."""
        if not self._exactly_once():
            return None
        if not hasattr(self.log, "transaction"):
            raise KsqlStatementException("processing.guarantee=exactly_once_v2 needs a log with transactions.")
        return self.log.transaction(group)

    def _start_repartition(self, query_id: str, group: str, query: ast.Query, plan: LogicalPlan,
                           sink: DataSource) -> Optional[LogicalPlan]:
        """Start the re-keying half of a query that needs a repartition topic
        (`pyksqlite.runtime.repartition`); the query's plan over that topic, or None if it needs none or
        cannot be split (it then runs as one task)."""
        internal_name = f"KSQL_REPARTITION_{query_id}"
        split = plan_repartition(plan, query, internal_name)
        if split is None:
            return None
        topic = f"{group}-{split.topic_suffix}"
        try:
            try:
                rekey_plan, internal, rest_plan = self._plan_split(split, internal_name, topic, sink)
            except KsqlException:   # every column is in the GROUP BY: the rows need a value
                split = split.with_carrier_column()
                rekey_plan, internal, rest_plan = self._plan_split(split, internal_name, topic, sink)
        except KsqlException as error:
            logger.warning("query %s runs as one task: its repartition cannot be planned (%s)",
                           query_id, error.message)
            return None
        if rest_plan.schema() != plan.schema():
            return None
        partitions = self.log.topic_config(split.partitions_of).partitions
        self.log.create_topic(topic, TopicConfig(partitions=partitions), exist_ok=True)
        rekey_id = repartition_task_id(query_id)
        self.scheduler.add(self._partitioned_task(rekey_id, f"{group}-{split.topic_suffix}-writer",
                                                  rekey_plan, self._plan_builder(rekey_id, rekey_plan, internal)))
        return rest_plan

    def _plan_split(self, split, internal_name: str, topic: str, sink: DataSource):
        """(the re-keying plan, the internal stream it writes, the rest of the query's plan)."""
        rekey_plan = LogicalPlanner(self.catalog, persistent=True).plan(split.rekey, internal_name)
        internal = self._sink_source(internal_name, STREAM, rekey_plan,
                                     {"KAFKA_TOPIC": topic, "KEY_FORMAT": split.key_format,
                                      "VALUE_FORMAT": "JSON"}, "")
        self.catalog.add_source(internal)
        try:   # the internal stream is in the catalog only while the query is planned
            planner = LogicalPlanner(self.catalog, persistent=True)
            planner.config = self.config
            return rekey_plan, internal, planner.plan(split.rest, sink.name)
        finally:
            self.catalog.remove_source(internal_name)

    def _splits_queries(self) -> bool:
        """Whether queries run as partition tasks: on a log shared between processes (Kafka), or
        when `ksqlite.partitioned.tasks` asks for it (the embedded log's groups span processes too)."""
        return getattr(self.log, "distributed", False) or self.config.get_bool("ksqlite.partitioned.tasks", False)

    def _runs_partitioned(self, query_id: str, plan: LogicalPlan) -> bool:
        """Queries on a log shared between processes (Kafka) run as one task per partition, with
        their state in a changelog topic, so that processes can split them; so do queries asked
        to with `ksqlite.partitioned.tasks`. A stateful query that is not partition-aligned (it
        would need a repartition topic), or whose inputs differ in partition count (a join of a
        query's result), stays one task over all of its partitions."""
        wanted = self._splits_queries()
        counts = {self.log.topic_config(topic).partitions for topic in plan.topics}
        if wanted and (not is_partition_aligned(plan) or len(counts) > 1):
            logger.warning("query %s is not aligned with its input partitions (it would need a "
                           "repartition topic): it runs as one task, correct only while one process "
                           "of the service runs it", query_id)
            return False
        return wanted

    def _partitioned_task(self, query_id: str, group: str, plan: LogicalPlan,
                          build_plan: Callable[[], Any]) -> PartitionedQueryTask:
        consumer = self._consumer(group, plan.topics)
        partitions = max(self.log.topic_config(t).partitions for t in plan.topics)
        transaction = self._transaction(group)
        return PartitionedQueryTask(query_id, build_plan, consumer, self.log, changelog_topic_name(group, plan),
                                    transaction, checkpoint_interval=self._checkpoint_interval(),
                                    partitions=partitions, topics=topics_in_tie_order(plan.relation.sources),
                                    max_task_idle_ms=self._max_task_idle_ms())

    def _stop_query(self, query_id: str) -> None:
        self.scheduler.remove(query_id)
        self.scheduler.remove(repartition_task_id(query_id))
        self.catalog.queries.pop(query_id, None)

    # ------------------------------------------------------------------ INSERT VALUES
    def _InsertValues(self, stmt: ast.InsertValues) -> dict[str, Any]:
        entities, error = self.insert_values([stmt])
        if error is not None:
            raise error
        return entities[0]

    def insert_values(self, statements: list[ast.InsertValues]) -> tuple[list[dict[str, Any]], Optional[Exception]]:
        """Run INSERT VALUES statements that arrived together as one append per target: the
        entities of the statements that ran, in order, and the error that stopped the first one
        that failed (None if all ran). The rows before a failing statement are still written."""
        targets, rows, rowtimes, error = [], [], [], None
        for stmt in statements:
            try:
                target = self._insert_target(stmt)
                row, rowtime = self._insert_row(target, stmt)
            except KsqlException as exc:
                error = exc
                break
            targets.append(target)
            rows.append(row)
            rowtimes.append(rowtime)
        written, append_error = self._append_rows(targets, rows, rowtimes)
        if written:
            self.scheduler.appended.notify()
        if isinstance(append_error, LogError):
            append_error = LogWriteException(f"Failed to insert values into '{targets[written].name}'. {append_error}")
        return ([self._status(stmt, f"stream/`{target.name}`/insert", "Inserted 1 row")
                 for stmt, target in zip(statements, targets[:written])], append_error or error)

    def _insert_target(self, stmt: ast.InsertValues) -> DataSource:
        target = self.catalog.get_source(stmt.target)
        if target is None:
            raise KsqlStatementException(_unknown_insert_target(self.catalog, stmt.target))
        if target.is_source:
            raise KsqlStatementException(f"Cannot insert values into read-only {target.kind.lower()}: {target.name}")
        return target

    def _append_rows(self, targets: list[DataSource], rows: list[dict], rowtimes: list[int]) -> tuple[int, Optional[Exception]]:
        """Serialize and append the rows, one append per run of rows with the same target; how
        many were written, and the error of the first row that could not be."""
        start = 0
        while start < len(rows):
            end = start
            while end < len(rows) and targets[end] is targets[start]:
                end += 1
            try:
                self._append_to(targets[start], rows[start:end], rowtimes[start:end])
            except Exception:  # noqa: BLE001 - find the row that failed, write those before it
                for one in range(start, end):
                    try:
                        self._append_to(targets[one], [rows[one]], [rowtimes[one]])
                    except Exception as error:  # noqa: BLE001 - reported as that statement's error
                        return one, error
            start = end
        return len(rows), None

    def _append_to(self, target: DataSource, rows: list[dict], rowtimes: list[int]) -> None:
        key_columns, value_columns = target.schema.key_columns, target.schema.value_columns
        key_serde, value_serde = self._insert_serdes(target)
        key_bytes = _serialize_rows(key_serde, key_columns, rows) if key_columns else pa.nulls(len(rows), pa.binary())
        self.log.append(target.topic, pa.table({
            "key": key_bytes, "value": _serialize_rows(value_serde, value_columns, rows),
            "timestamp": pa.array(rowtimes, pa.int64()), "headers": pa.nulls(len(rows), HEADER_TYPE)}))

    def _insert_serdes(self, target: DataSource) -> tuple:
        """The target's key and value serdes; made once per schema and formats, except those of
        schema registry formats (made each time, as they may read the registry)."""
        signature = (target.schema, target.key_format, target.value_format)
        serdes = self._serdes_by_signature.get(signature)
        if serdes is None:
            key_columns = target.schema.key_columns
            serdes = (create_serde(target.key_format, key_columns, True) if key_columns else None,
                      create_serde(target.value_format, target.schema.value_columns, False))
            if {target.key_format.name.upper(), target.value_format.name.upper()} <= _REGISTRY_FREE_FORMATS:
                if len(self._serdes_by_signature) >= 256:
                    self._serdes_by_signature.clear()
                self._serdes_by_signature[signature] = serdes
        return serdes

    def _insert_row(self, target: DataSource, stmt: ast.InsertValues) -> tuple[dict[str, Any], int]:
        # Without a column list a row names every column but the pseudo columns, headers too.
        names = list(stmt.columns) if stmt.columns is not None else \
            [c.name for c in target.schema.columns if c.namespace in (KEY, VALUE, HEADERS, HEADER)]
        headers = [n for n in names if (c := target.schema.find(n)) is not None
                   and c.namespace in (HEADERS, HEADER)]
        if headers:
            raise KsqlStatementException(f"Cannot insert into HEADER columns: {', '.join(headers)}")
        _check_insert_shape(stmt, names)
        row: dict[str, Any] = {}
        rowtime = None
        for name, expr in zip(names, stmt.values):
            if name == "ROWTIME":
                rowtime = _constant(expr, ast.BIGINT)
                continue
            if name in _NOT_INSERTABLE:
                raise KsqlStatementException(f"Inserting into column `{name}` is not allowed.")
            column = target.schema.find(name)
            if column is None or column.namespace not in (KEY, VALUE):
                raise KsqlStatementException(f"Column name {name} does not exist.")
            row[name] = _constant(expr, column.type)
        if rowtime is None:
            rowtime = int(time.time() * 1000)
        return row, int(rowtime)

    # ------------------------------------------------------------------ DROP, TYPES, TERMINATE
    def _DropSource(self, stmt: ast.DropSource) -> dict[str, Any]:
        source = self.catalog.get_source(stmt.name)
        kind_word = stmt.kind.lower()
        if source is None:
            if stmt.if_exists:
                return self._status(stmt, f"{kind_word}/`{stmt.name}`/drop",
                                    f"Source `{stmt.name}` does not exist.")
            raise KsqlStatementException(f"{stmt.kind.capitalize()} {stmt.name} does not exist.")
        if source.kind != stmt.kind:
            raise KsqlStatementException(
                f"Incompatible data source type is {source.kind}, but statement was DROP {stmt.kind}")
        if stmt.delete_topic and source.is_source:
            raise KsqlStatementException(f"Cannot delete topic for read-only source: {stmt.name}")
        writers = self.catalog.queries_writing(stmt.name)
        readers = [q for q in self.catalog.queries_reading(stmt.name) if q not in writers]
        if readers or len(writers) > 1:
            raise KsqlStatementException(
                f"Cannot drop {stmt.name}.\n"
                f"The following queries read from this source: [{', '.join(q.query_id for q in readers)}].\n"
                f"The following queries write into this source: [{', '.join(q.query_id for q in writers)}].\n"
                f"You need to terminate them before dropping {stmt.name}.")
        for query in writers:
            self._stop_query(query.query_id)
        self.catalog.remove_source(stmt.name)
        if stmt.delete_topic and not self.catalog.sources_on_topic(source.topic):
            self.log.delete_topic(source.topic)
        self.record_command(stmt.text)
        return self._status(stmt, f"{kind_word}/`{stmt.name}`/drop",
                            f"Source `{stmt.name}` (topic: {source.topic}) was dropped.")

    def _CreateType(self, stmt: ast.CreateType) -> dict[str, Any]:
        if stmt.name in self.catalog.types:
            if stmt.if_not_exists:
                return self._status(stmt, f"type/`{stmt.name}`/create", "Type already exists")
            raise KsqlStatementException(
                f"Cannot register custom type '{stmt.name}' since it is already registered with type: "
                f"{self.catalog.types[stmt.name]}")
        self.catalog.types[stmt.name] = self.catalog.resolve_type(stmt.type)
        self.record_command(stmt.text)
        return self._status(stmt, f"type/`{stmt.name}`/create", "Registered custom type")

    def _DropType(self, stmt: ast.DropType) -> dict[str, Any]:
        if stmt.name not in self.catalog.types:
            if stmt.if_exists:
                return self._status(stmt, f"type/`{stmt.name}`/drop", f"Type {stmt.name} does not exist")
            raise KsqlStatementException(f"Type {stmt.name} does not exist.")
        del self.catalog.types[stmt.name]
        self.record_command(stmt.text)
        return self._status(stmt, f"type/`{stmt.name}`/drop", "Dropped type")

    def _Terminate(self, stmt: ast.Terminate) -> dict[str, Any]:
        ids = list(self.catalog.queries) if stmt.query_id is None else [stmt.query_id]
        for query_id in ids:
            if query_id not in self.catalog.queries:
                raise KsqlStatementException(f"Unknown queryId: {query_id}")
            self._stop_query(query_id)
        self.record_command(stmt.text)
        return self._status(stmt, "cluster/`terminate`/terminate", "Query terminated.")

    def _AlterSource(self, stmt: ast.AlterSource) -> dict[str, Any]:
        source = self.catalog.require_source(stmt.name)
        if source.is_source:
            raise KsqlStatementException(
                f"Cannot alter {source.kind.lower()} '{stmt.name}': ALTER operations are not supported "
                f"on source {source.kind.lower()}s.")
        if self.catalog.queries_writing(stmt.name):
            raise KsqlStatementException("ALTER command is not supported for CREATE ... AS statements.")
        added = ddl.parse_columns(self.catalog, STREAM, tuple(
            ast.ColumnDef(c.name, c.type, None) for c in stmt.columns)).columns
        for column in added:
            if source.schema.find(column.name) is not None:
                raise KsqlStatementException(
                    f"Cannot add column `{column.name}` to schema. A column with the same name already exists.")
        source.schema = LogicalSchema(source.schema.columns + tuple(added))
        self.record_command(stmt.text)
        return self._status(stmt, f"{stmt.kind.lower()}/`{stmt.name}`/alter",
                            f"{stmt.kind.capitalize()} {stmt.name} altered.")


def _constant(expr: ast.Expr, typ) -> Any:
    """The value of an INSERT VALUES expression as a column of type `typ`. Plain literals that
    need no conversion are taken as they are; anything else is evaluated by the compiler."""
    if isinstance(expr, ast.NullLiteral):
        return None
    literal = _plain_literal(expr, typ)
    if literal is not None:
        return literal
    value, _ = evaluate_constant(ast.Cast(expr, typ))
    return value


def _plain_literal(expr: ast.Expr, typ) -> Any:
    base = typ.base
    if isinstance(expr, ast.StringLiteral) and base == "STRING":
        return expr.value
    if isinstance(expr, ast.BooleanLiteral) and base == "BOOLEAN":
        return expr.value
    if isinstance(expr, ast.IntegerLiteral) and base in ("INTEGER", "BIGINT"):
        limit = 2 ** 31 if base == "INTEGER" else 2 ** 63
        return expr.value if -limit <= expr.value < limit else None
    if isinstance(expr, (ast.IntegerLiteral, ast.DoubleLiteral)) and base == "DOUBLE":
        return float(expr.value)
    if isinstance(expr, ast.DecimalLiteral) and base == "DOUBLE":
        return float(expr.text)
    return None


MAX_PARTITIONS = 10_000   # a partition is a directory and a poll per task on the embedded log


def partition_count(value) -> int:
    return _bounded_integer("PARTITIONS", value, 1, MAX_PARTITIONS)


def _bounded_integer(name: str, value, low: int, high: int) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"-?\d{1,19}", text) or not low <= int(text) <= high:
        raise KsqlStatementException(f"Invalid value {text[:40]} for property {name}: "
                                     f"expected an integer from {low} to {high}.")
    return int(text)


def _topic_config(partitions: int, props: dict) -> TopicConfig:
    cleanup = str(props.get("CLEANUP_POLICY", "delete")).lower()
    retention = props.get("RETENTION_MS")
    return TopicConfig(partitions=partitions, cleanup_policy=cleanup,
                       retention_ms=_bounded_integer("RETENTION_MS", retention, -1, 2 ** 63 - 1)
                       if retention is not None else TopicConfig.retention_ms)


def _check_join_partitions(plan, log: Log, catalog: Catalog) -> None:
    """Joined topics must be co-partitioned (a join relation knows which must be)."""
    relation = getattr(plan, "relation", None)
    if hasattr(relation, "check_partitions"):
        relation.check_partitions(log, frozenset(q.sink for q in catalog.queries.values()))


def _check_serdes(source: DataSource) -> None:
    """Creating the serdes checks that the formats can hold the column types."""
    for part, fmt, columns, is_key in (("Key", source.key_format, source.schema.key_columns, True),
                                       ("Value", source.value_format, source.schema.value_columns, False)):
        try:
            create_serde(fmt, columns, is_key)
        except KsqlException as error:
            if "not supported yet" in error.message or "Unknown format" in error.message:
                raise
            features = "[UNWRAP_SINGLES]" if (not is_key and fmt.wrap_single_value is False) else "[]"
            shown = ", ".join(c.describe() for c in columns)
            raise KsqlStatementException(
                f"{part} format does not support schema.\nformat: {fmt.name}\n"
                f"schema: Persistence{{columns=[{shown}], features={features}}}\n"
                f"reason: {error.message}") from error


def _check_timestamp_projected(catalog: Catalog, stmt: ast.CreateAsSelect) -> None:
    """ksqlDB checks a C*AS's TIMESTAMP column exists among the projected columns before it
    plans the query (so before the key columns are checked)."""
    column = stmt.props().get("TIMESTAMP")
    names = projected_names(catalog, stmt.query) if column is not None else None
    if names is None:
        return
    name = str(column)
    name = name[1:-1] if name.startswith("`") and name.endswith("`") else name.upper()
    if name not in names:
        raise KsqlStatementException(
            f"The TIMESTAMP column set in the WITH clause does not exist in the schema: '{name}'")


def _insertable(result: LogicalSchema, sink: LogicalSchema) -> bool:
    """ksqlDB's compatibleSchema: the same key and value columns in the same order, each of a
    type the sink column takes (equal, or a DECIMAL that fits the sink's)."""
    def columns(schema):
        return [c for c in schema.columns if c.namespace in (KEY, VALUE)]
    ours, theirs = columns(result), columns(sink)
    return len(ours) == len(theirs) and all(
        a.name == b.name and a.namespace == b.namespace and coercion.insert_compatible(a.type, b.type)
        for a, b in zip(ours, theirs))


_REGISTRY_FREE_FORMATS = {"JSON", "KAFKA", "DELIMITED", "NONE"}
_EXACTLY_ONCE = ("exactly_once", "exactly_once_v2", "exactly_once_beta")
_NOT_INSERTABLE = {"ROWPARTITION", "ROWOFFSET"}   # pseudo columns the log assigns


def _check_insert_shape(stmt: ast.InsertValues, names: list[str]) -> None:
    """What ksqlDB checks when it prepares an INSERT VALUES, before evaluating anything."""
    if len(names) != len(stmt.values):
        if stmt.columns is not None:
            raise KsqlStatementException(f"Failed to prepare statement: Expected number columns and values "
                                         f"to match: {len(names)}, {len(stmt.values)}")
        raise KsqlStatementException(
            f"Failed to prepare statement: Expected a value for each column. Expected Columns: "
            f"[{', '.join(names)}]. Got [{', '.join(format_expression(v) for v in stmt.values)}]")
    for expr in stmt.values:
        qualifier = _column_qualifier(expr)
        if qualifier is not None:  # INSERT VALUES reads no source: any qualifier is unknown
            raise KsqlStatementException(
                f"Failed to prepare statement: '{qualifier}' is not a valid stream/table name or alias.")


def _column_qualifier(expr: Any) -> Optional[str]:
    """The source qualifier of the first qualified column reference in `expr`, if any."""
    if isinstance(expr, ast.ColumnRef):
        return expr.source
    for name in getattr(expr, "__dataclass_fields__", {}):
        child = getattr(expr, name)
        for part in (child if isinstance(child, tuple) else (child,)):
            for item in (part if isinstance(part, tuple) else (part,)):
                if isinstance(item, (ast.Expr, ast.WhenClause)):
                    found = _column_qualifier(item)
                    if found is not None:
                        return found
    return None


def _serialize_rows(serde, columns: list[Column], rows: list[dict[str, Any]]) -> pa.Array:
    """INSERT VALUES rows as `serde` writes them; a few JSON rows without a DuckDB statement."""
    encoded = json_rows.encode_rows(serde, rows) if json_rows.encodable(serde) else None
    return encoded if encoded is not None else serde.serialize(_rows_table(columns, rows))


def _rows_table(columns: list[Column], rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table({c.name: pa.array([row.get(c.name) for row in rows], to_arrow(c.type)) for c in columns})


def _unknown_insert_target(catalog: Catalog, name: str) -> str:
    message = f"Cannot insert values into an unknown stream/table: `{name}`"
    if name.upper() in catalog.sources and name != name.upper():
        message += f"\nDid you mean {name.upper()}? Hint: try removing double quotes from the source name."
    else:
        other = next((n for n in catalog.sources if n.upper() == name.upper() and n != name), None)
        if other is not None:
            message += (f"\nDid you mean \"{other}\"? Hint: wrap the source name in double quotes "
                        "to make it case-sensitive.")
    return message
