"""Driving the engine through one QTT case: a fresh Engine with TestExecutor's configuration,
the case's topics and schemas, its statements one at a time and its input records one at a
time, then what came out (`Observation`). All calls to the engine live here; each case runs
under a deadline, so a hang becomes an error result.
"""
from __future__ import annotations

import contextlib
import re
import signal
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterator, Optional

import orjson

from pyksqlite.shell.runners.production_order import ProductionOrder
from pyksqlite.shell.runners.qtt_cases import QttCase

# TestExecutor.BASE_CONFIG, as ksqlite property names.
BASE_CONFIG: dict[str, Any] = {
    "ksql.streams.cache.max.bytes.buffering": 0,
    "ksql.streams.auto.offset.reset": "earliest",
    "ksql.streams.auto.commit.interval.ms": 0,
    "ksql.streams.bootstrap.servers": "localhost:0",
    "ksql.service.id": "some.ksql.service.id",
    "ksql.headers.columns.enabled": True,
    "ksql.schema.registry.url": "schema_registry.url:0",
    # Test data lives in a temporary directory: no fsync per append.
    "ksqlite.log.flush": "none",
}
IDLE_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 10.0


@dataclass
class Observation:
    """What one case did on the engine."""
    exception: Optional[BaseException] = None
    records: dict[str, list[Any]] = field(default_factory=dict)   # topic -> TestRecords
    sources: dict[str, Any] = field(default_factory=dict)         # name -> description or error text
    topics: list[str] = field(default_factory=list)


def default_engine_factory(data_dir: str, properties: dict) -> Any:
    from pyksqlite import Engine
    return Engine(data_dir, properties=properties)


def kafka_engine_factory(bootstrap_servers: str) -> Callable:
    """Engines on a Kafka cluster: each case's topics and groups under a prefix of its own, its
    topics deleted when its engine closes."""
    def factory(data_dir: str, properties: dict) -> Any:
        import uuid
        from pyksqlite import Engine
        from pyksqlite.log.kafka.log import KafkaLog
        log = KafkaLog(bootstrap_servers, topic_prefix=f"qtt-{uuid.uuid4().hex[:12]}.",
                       delete_topics_on_close=True)
        return Engine(data_dir, properties=properties, log=log)
    return factory


_SOURCE_CREATE = re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?(SOURCE\s+)?(STREAM|TABLE)\b", re.IGNORECASE)
_AS_SELECT = re.compile(r"\bAS\s+SELECT\b", re.IGNORECASE)
KAFKA_TOPIC_IN_SQL = re.compile(r"KAFKA_TOPIC\s*=\s*'((?:[^']|'')*)'", re.IGNORECASE)
PARTITIONS_IN_SQL = re.compile(r"\bPARTITIONS\s*=\s*(\d+)", re.IGNORECASE)


def topics_to_create(spec: dict) -> list[tuple[str, int]]:
    """The declared topics, the topics of source CREATE statements (not C*AS) and the input topics
    (1 partition unless given), as TestExecutor creates them. Sink topics are left to C*AS."""
    wanted: dict[str, int] = {}
    for topic in spec.get("topics") or []:
        if topic.get("partitions"):
            wanted.setdefault(topic["name"], int(topic["partitions"]))
    for statement in spec.get("statements") or []:
        if _SOURCE_CREATE.match(statement) and not _AS_SELECT.search(statement):
            topic, partitions = KAFKA_TOPIC_IN_SQL.search(statement), PARTITIONS_IN_SQL.search(statement)
            if topic:
                wanted.setdefault(topic.group(1).replace("''", "'"), int(partitions.group(1)) if partitions else 1)
    for topic in spec.get("topics") or []:   # declared only to pre-register schemas
        wanted.setdefault(topic["name"], 1)
    for record in spec.get("inputs") or []:
        wanted.setdefault(record["topic"], 1)
    return list(wanted.items())


def record_class() -> type:
    """The engine's TestRecord (imported late so loading and judging work without the engine)."""
    from pyksqlite.facade.results import TestRecord
    return TestRecord


def input_record(raw: dict) -> Any:
    headers = raw.get("headers")
    if headers is not None:
        headers = [{"KEY": h.get("KEY", h.get("key")), "VALUE": h.get("VALUE", h.get("value"))}
                   for h in headers]
    return record_class()(topic=raw["topic"], key=_floats(raw.get("key")), value=_floats(raw.get("value")),
                      timestamp=int(raw.get("timestamp") or 0), headers=headers,
                      window=raw.get("window"))


def _floats(value: Any) -> Any:
    """Input values go to the serializers as plain JSON values (Decimal literals as floats)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return value


def observe_case(case: QttCase, data_dir: str, engine_factory: Callable = default_engine_factory,
                 idle_timeout: float = IDLE_TIMEOUT_SECONDS, properties: Optional[dict] = None) -> Observation:
    """Run one case on a fresh engine and record what happened. All engine calls live here."""
    spec, observation = case.spec, Observation()
    engine = engine_factory(data_dir, {**BASE_CONFIG, **(spec.get("properties") or {}), **(properties or {})})
    try:
        for topic, partitions in topics_to_create(spec):
            engine.create_topic(topic, partitions)
        order = ProductionOrder(engine)
        try:
            register_topic_schemas(engine, spec)
            _execute_and_feed(engine, spec, idle_timeout, order)
        except Exception as exc:  # noqa: BLE001 - a statement or processing failure is data here
            observation.exception = exc
        _collect_results(engine, spec, observation, order)
    finally:
        with deadline(CLOSE_TIMEOUT_SECONDS):
            engine.close()
    return observation


def register_topic_schemas(engine: Any, spec: dict) -> None:
    """Register the `topics` entries' key and value schemas (with their ids and references) in
    the engine's schema registry, as ksqlDB's harness does before the statements run."""
    registry = getattr(engine, "schema_registry", None)
    if registry is None:
        return
    for topic in spec.get("topics") or []:
        for part in ("key", "value"):
            schema = topic.get(f"{part}Schema")
            if schema is None and part == "value":
                schema = topic.get("schema")
            if schema is None:
                continue
            fmt = str(topic.get(f"{part}Format") or topic.get("format") or "").upper()
            schema_type = _schema_type(fmt, schema)
            text = schema if isinstance(schema, str) and schema_type == "PROTOBUF" else \
                orjson.dumps(_plain(schema)).decode()
            raw_references = topic.get(f"{part}SchemaReferences") or []
            references = [{"name": r["name"], "subject": r.get("subject", r["name"]),
                           "version": int(r.get("version", 1))} for r in raw_references]
            for reference in raw_references:
                subject = reference.get("subject", reference["name"])
                if reference.get("schema") is not None and not registry.subject_exists(subject):
                    ref_schema = reference["schema"]
                    registry.register(subject, ref_schema if isinstance(ref_schema, str)
                                      else orjson.dumps(_plain(ref_schema)).decode(),
                                      _schema_type(str(reference.get("format", fmt)).upper(), ref_schema))
            schema_id = topic.get(f"{part}SchemaId")
            registry.register(f"{topic['name']}-{part}", text, schema_type, tuple(references),
                              schema_id=int(schema_id) if schema_id is not None else None,
                              check_compatibility=False)


def _schema_type(fmt: str, schema: Any) -> str:
    if fmt.startswith("PROTOBUF") or (isinstance(schema, str) and ("syntax" in schema or "message " in schema)):
        return "PROTOBUF"
    if fmt in ("JSON", "JSON_SR"):
        return "JSON"
    return "AVRO"


def _plain(value: Any) -> Any:
    """Schema JSON with Decimal numbers back as ints/floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _execute_and_feed(engine: Any, spec: dict, idle_timeout: float, order: ProductionOrder) -> None:
    """Statements one at a time, then the inputs one record at a time, each processed before the
    next, as ksqlDB's harness pipes them (what an INSERT VALUES statement wrote, too). ksqlDB's
    harness joins the statements with line breaks, so an error's `Line: 3` is the third line of
    that script: each statement is preceded by as many blank lines as come before it there."""
    lines_before = 0
    for statement in spec.get("statements", []):
        engine.execute("\n" * lines_before + statement)
        lines_before += statement.count("\n") + 1
        engine.run_until_idle(timeout=idle_timeout)
        order.mark()
    for raw in spec.get("inputs") or []:
        engine.produce_test_records([input_record(raw)])
        engine.run_until_idle(timeout=idle_timeout)
        order.mark()


def _collect_results(engine: Any, spec: dict, observation: Observation, order: ProductionOrder) -> None:
    """Records of every topic but the inputs, the post.sources descriptions, the topic names."""
    observation.topics = list(engine.topic_names())
    input_topics = {r["topic"] for r in spec.get("inputs") or []}
    for topic in observation.topics:
        if topic not in input_topics:
            with contextlib.suppress(Exception):  # e.g. an internal topic no source describes
                observation.records[topic] = order.records(topic)
    for source in (spec.get("post") or {}).get("sources") or []:
        observation.sources[source["name"]] = _describe(engine, source["name"])


def _describe(engine: Any, name: str) -> Any:
    try:
        return engine.describe_source(name)
    except Exception as exc:  # noqa: BLE001
        return f"describe failed: {exception_text(exc)}"


class CaseTimeout(BaseException):
    """Raised by the per-case guard; a BaseException so engine `except Exception` cannot eat it."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` (SIGALRM; only possible on the main thread)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum, _frame):
        raise CaseTimeout(f"timed out after {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def exception_text(exc: BaseException) -> str:
    """The message as ksqlDB's exception would carry it: a statement error ends with the
    statement (`Statement: ...`), as KsqlStatementException.getMessage() does."""
    message = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    statement = getattr(exc, "statement_text", None)
    if statement and "\nStatement: " not in message and getattr(exc, "kind", "").endswith("StatementException"):
        message += "\nStatement: " + statement
    return message


def simple_class_name(name: Optional[str]) -> str:
    return (name or "").rsplit(".", 1)[-1].split("$")[-1]


def error_type(exc: BaseException) -> str:
    """The simple class name of an error as ksqlDB would name it (`kind`), else Python's."""
    return simple_class_name(getattr(exc, "kind", None) or type(exc).__name__)
