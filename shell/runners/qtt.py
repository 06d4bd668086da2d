"""`ksqlite qtt`: run ksqlDB's query-validation tests (QTT) against the engine.

A QTT file holds cases (statements, input records, expected output records, an expected exception,
post-conditions on sources and topics); reference 6.3 describes the format. The pipeline here is:
load + expand a file into `QttCase`s -> `observe_case` drives a fresh Engine for one case (the only
function that talks to the engine) -> `judge` compares what was observed with the expectations
(rules in `qtt_compare`) -> `CaseResult`s -> report JSON, console summary and the baseline.
"""
from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import os
import re
import json
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import orjson

from pyksqlite.shell.runners import qtt_compare
from pyksqlite.shell.runners.production_order import ProductionOrder

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
SCHEMA_REGISTRY_FORMATS = ("AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR")
_SR_FORMAT_IN_SQL = re.compile(r"FORMAT\s*=\s*'(" + "|".join(SCHEMA_REGISTRY_FORMATS) + r")'",
                               re.IGNORECASE)
# The read-only reference material sits beside the project checkout: ../shared/ksql-qtt.
SHARED_QTT_DIR = Path(os.environ.get("KSQLITE_SHARED_QTT",
                                     Path(__file__).resolve().parents[2].parent / "shared" / "ksql-qtt"))
DEFAULT_AREAS_FILE = SHARED_QTT_DIR / "AREAS.md"
IDLE_TIMEOUT_SECONDS = 10.0
CASE_TIMEOUT_SECONDS = 60.0
CLOSE_TIMEOUT_SECONDS = 10.0


@dataclass
class QttCase:
    """One case after expansion (one per format and per config value)."""
    file: str                 # basename, e.g. "filter.json"
    name: str
    spec: dict[str, Any]      # the case's fields, with {FORMAT} / {CONFIG} substituted
    enabled: bool = True
    schema_registry: bool = False
    area: Optional[str] = None

    @property
    def line(self) -> str:
        """The case's identity in baselines and filters."""
        return f"{self.file} :: {self.name}"


@dataclass
class Observation:
    """What one case did on the engine."""
    exception: Optional[BaseException] = None
    records: dict[str, list[Any]] = field(default_factory=dict)   # topic -> TestRecords
    sources: dict[str, Any] = field(default_factory=dict)         # name -> description or error text
    topics: list[str] = field(default_factory=list)


@dataclass
class CaseResult:
    file: str
    name: str
    status: str               # passed | failed | error | skipped
    outputs: list[dict] = field(default_factory=list)   # the records the run really produced
    error: Optional[str] = None        # the error the run really raised (compared, if expected)
    reason: Optional[str] = None
    schema_registry: bool = False
    area: Optional[str] = None
    note: Optional[str] = None  # verbose-only detail (e.g. exception type differs)
    error_type: Optional[str] = None   # the class of the error raised
    expected_error: Optional[dict] = None   # the case's expectedException / expectedError

    @property
    def line(self) -> str:
        return f"{self.file} :: {self.name}"

    def to_report(self) -> dict:
        report = {"file": self.file, "name": self.name, "status": self.status,
                  "outputs": self.outputs, "error": self.error, "reason": self.reason,
                  "schema_registry": self.schema_registry, "area": self.area}
        if self.error_type is not None:
            report["error_type"] = self.error_type
        if self.expected_error is not None:
            report["expected_error"] = self.expected_error
        return report


@dataclass(frozen=True)
class RunOptions:
    name_filter: Optional[str] = None             # substring of "file.json :: name"
    only: Optional[frozenset[str]] = None         # exact "file.json :: name" lines
    idle_timeout: float = IDLE_TIMEOUT_SECONDS
    case_timeout: float = CASE_TIMEOUT_SECONDS
    areas_file: Optional[str] = None
    bootstrap_servers: Optional[str] = None     # run on this Kafka cluster, not the embedded log
    extension_dir: Optional[str] = None         # Python UDFs to load (ksql.extension.dir), as
                                                # ksqlDB's harness has its test functions' jar

    def engine_properties(self) -> dict[str, Any]:
        """Properties every case's engine gets on top of the case's own."""
        return {"ksql.extension.dir": self.extension_dir} if self.extension_dir else {}

    def selects(self, case: QttCase) -> bool:
        if self.only is not None and case.line not in self.only:
            return False
        return not self.name_filter or self.name_filter in case.line


# --- loading and expansion ----------------------------------------------------------------------

def load_areas(areas_file: Optional[Path] = None) -> dict[str, str]:
    """AREAS.md: `## area (dir/)` headings, each followed by a comma-separated list of file stems."""
    path = Path(areas_file) if areas_file else DEFAULT_AREAS_FILE
    if not path.exists():
        return {}
    areas, current = {}, None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("## "):
            current = line[3:].split()[0]
        elif current and line and not line.startswith("#"):
            areas.update({stem.strip(): current for stem in line.split(",") if stem.strip()})
    return areas


def load_cases(path: str | Path, areas: Optional[dict[str, str]] = None) -> list[QttCase]:
    """Every expanded case of one QTT file."""
    path = Path(path)
    document = _load_exact_json(path)
    area = (areas or {}).get(path.stem)
    cases = []
    for raw in document.get("tests", []):
        cases.extend(expand_case(path.name, raw, area))
    return cases


def _load_exact_json(path: Path) -> dict:
    """Parse with the stdlib so non-integer numbers stay exact Decimals (1.10 keeps its scale)."""
    return json.loads(path.read_text(), parse_float=Decimal)


def expand_case(file: str, raw: dict, area: Optional[str] = None) -> list[QttCase]:
    """ksqlDB's expansion: one case per `format` entry, then one per `config` value."""
    variants = [(raw["name"], raw)]
    if raw.get("format"):
        variants = [(f"{raw['name']} - {fmt}", _with_format(raw, fmt)) for fmt in raw["format"]]
    if raw.get("config"):
        variants = [(f"{name} - {value}", _with_config(spec, value))
                    for name, spec in variants for value in raw["config"]]
    return [QttCase(file=file, name=name, spec=spec, enabled=raw.get("enabled", True) is not False,
                    schema_registry=uses_schema_registry(spec, raw.get("format")), area=area)
            for name, spec in variants]


def _with_format(raw: dict, fmt: str) -> dict:
    spec = dict(raw)
    spec["statements"] = [s.replace("{FORMAT}", fmt) for s in raw.get("statements", [])]
    spec["expanded_format"] = fmt
    return spec


def _with_config(raw: dict, value: Any) -> dict:
    spec = dict(raw)
    spec["properties"] = {k: (value if v == "{CONFIG}" else v)
                          for k, v in (raw.get("properties") or {}).items()}
    return spec


def uses_schema_registry(spec: dict, formats: Optional[list] = None) -> bool:
    """Whether the case needs a schema-registry format (AVRO, PROTOBUF, PROTOBUF_NOSR, JSON_SR)."""
    fmt = spec.get("expanded_format")
    if fmt and str(fmt).upper() in SCHEMA_REGISTRY_FORMATS:
        return True
    if any(_SR_FORMAT_IN_SQL.search(s) for s in spec.get("statements", [])):
        return True
    topic_formats = [t.get(k) for t in spec.get("topics") or [] for k in ("keyFormat", "valueFormat", "format")]
    property_values = list((spec.get("properties") or {}).values())
    return any(str(v).upper() in SCHEMA_REGISTRY_FORMATS for v in topic_formats + property_values)


def discover_files(paths: Iterable[str | Path]) -> list[Path]:
    """The QTT files named, directories expanded to their *.json files (sorted)."""
    files: list[Path] = []
    for path in map(Path, paths):
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return files


# --- driving the engine -------------------------------------------------------------------------

def default_engine_factory(data_dir: str, properties: dict) -> Any:
    from pyksqlite.facade.engine import Engine
    return Engine(data_dir, properties=properties)


def kafka_engine_factory(bootstrap_servers: str) -> Callable:
    """Engines on a Kafka cluster: each case's topics and groups under a prefix of its own, its
    topics deleted when its engine closes."""
    def factory(data_dir: str, properties: dict) -> Any:
        import uuid
        from pyksqlite.facade.engine import Engine
        from pyksqlite.log.kafka.log import KafkaLog
        log = KafkaLog(bootstrap_servers, topic_prefix=f"qtt-{uuid.uuid4().hex[:12]}.",
                       delete_topics_on_close=True)
        return Engine(data_dir, properties=properties, log=log)
    return factory


_SOURCE_CREATE = re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?(SOURCE\s+)?(STREAM|TABLE)\b", re.IGNORECASE)
_AS_SELECT = re.compile(r"\bAS\s+SELECT\b", re.IGNORECASE)
_KAFKA_TOPIC = re.compile(r"KAFKA_TOPIC\s*=\s*'((?:[^']|'')*)'", re.IGNORECASE)
_PARTITIONS = re.compile(r"\bPARTITIONS\s*=\s*(\d+)", re.IGNORECASE)


def topics_to_create(spec: dict) -> list[tuple[str, int]]:
    """The declared topics, the topics of source CREATE statements (not C*AS) and the input topics
    (1 partition unless given), as TestExecutor creates them. Sink topics are left to C*AS."""
    wanted: dict[str, int] = {}
    for topic in spec.get("topics") or []:
        if topic.get("partitions"):
            wanted.setdefault(topic["name"], int(topic["partitions"]))
    for statement in spec.get("statements") or []:
        if _SOURCE_CREATE.match(statement) and not _AS_SELECT.search(statement):
            topic, partitions = _KAFKA_TOPIC.search(statement), _PARTITIONS.search(statement)
            if topic:
                wanted.setdefault(topic.group(1).replace("''", "'"), int(partitions.group(1)) if partitions else 1)
    for topic in spec.get("topics") or []:   # declared only to pre-register schemas
        wanted.setdefault(topic["name"], 1)
    for record in spec.get("inputs") or []:
        wanted.setdefault(record["topic"], 1)
    return list(wanted.items())


def record_class() -> type:
    """The engine's TestRecord (imported late so loading and judging work without the engine)."""
    from pyksqlite.facade.engine import TestRecord
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
    next, as ksqlDB's harness pipes them (what an INSERT VALUES statement wrote, too)."""
    for statement in spec.get("statements", []):
        engine.execute(statement)
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


# --- judging ------------------------------------------------------------------------------------

def exception_text(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc) or type(exc).__name__


def _simple_class_name(name: Optional[str]) -> str:
    return (name or "").rsplit(".", 1)[-1].split("$")[-1]


def judge(case: QttCase, observation: Observation) -> tuple[str, Optional[str], Optional[str], Optional[str]]:
    """(status, error, reason, note) of a case from what it did."""
    expected_exception = case.spec.get("expectedException")
    if expected_exception:
        return _judge_expected_exception(expected_exception, observation.exception)
    if observation.exception is not None:
        message = exception_text(observation.exception)
        return "error", message, f"unexpected {type(observation.exception).__name__}: {message}", None
    problem = _output_mismatch(case, observation) or _post_mismatch(case, observation)
    return ("failed", None, problem, None) if problem else ("passed", None, None, None)


def _judge_expected_exception(expected: dict, actual: Optional[BaseException]):
    want_message = expected.get("message") or ""
    if actual is None:
        return "failed", None, f"expected an exception with message containing {want_message!r}; none was raised", None
    message = exception_text(actual)
    if want_message not in message:
        return "failed", message, f"expected exception message containing {want_message!r}, got {message!r}", None
    want_type = _simple_class_name(expected.get("type"))
    got_type = error_type(actual)
    note = f"exception type {got_type} (expected {want_type})" if want_type != got_type else None
    return "passed", message, None, note


def error_type(exc: BaseException) -> str:
    """The simple class name of an error as ksqlDB would name it (`kind`), else Python's."""
    return _simple_class_name(getattr(exc, "kind", None) or type(exc).__name__)


def _resolve_topic(name: str, topics: list[str]) -> str:
    """Topic names are matched case-insensitively, as TestExecutor does."""
    if name in topics:
        return name
    return next((t for t in topics if t.upper() == name.upper()), name)


def _output_mismatch(case: QttCase, observation: Observation) -> Optional[str]:
    expected_by_topic: dict[str, list[dict]] = {}
    for record in case.spec.get("outputs") or []:
        expected_by_topic.setdefault(record["topic"], []).append(record)
    had_inputs = bool(case.spec.get("inputs"))
    for topic, expected in expected_by_topic.items():
        actual = observation.records.get(_resolve_topic(topic, observation.topics), [])
        problem = qtt_compare.records_mismatch(topic, expected, actual, had_inputs)
        if problem:
            return problem
    return None


def _post_mismatch(case: QttCase, observation: Observation) -> Optional[str]:
    post = case.spec.get("post") or {}
    for expected in post.get("sources") or []:
        description = observation.sources.get(expected["name"])
        if not isinstance(description, dict):
            return f"source {expected['name']}: {description or 'not described'}"
        problem = qtt_compare.source_mismatch(expected, description)
        if problem:
            return problem
    blacklist = (post.get("topics") or {}).get("blacklist")
    return qtt_compare.blacklist_mismatch(blacklist, observation.topics) if blacklist else None


def report_outputs(observation: Observation) -> list[dict]:
    return [{"topic": topic, "key": r.key, "value": r.value, "timestamp": r.timestamp, "window": r.window}
            for topic, records in observation.records.items() for r in records]


# --- running ------------------------------------------------------------------------------------

def run_case(case: QttCase, options: RunOptions = RunOptions(),
             engine_factory: Callable = default_engine_factory) -> CaseResult:
    """Run one case; never raises (a crash or a hang becomes an "error" result)."""
    result = CaseResult(case.file, case.name, "skipped", schema_registry=case.schema_registry, area=case.area)
    if not case.enabled:
        result.reason = "disabled (enabled: false)"
        return result
    try:
        with tempfile.TemporaryDirectory(prefix="ksqlite-qtt-", ignore_cleanup_errors=True) as data_dir:
            with deadline(options.case_timeout):
                observation = observe_case(case, data_dir, engine_factory, options.idle_timeout,
                                           options.engine_properties())
        result.status, result.error, result.reason, result.note = judge(case, observation)
        result.outputs = report_outputs(observation)
        result.expected_error = case.spec.get("expectedException")
        if observation.exception is not None:
            result.error = exception_text(observation.exception)
            result.error_type = error_type(observation.exception)
    except (Exception, CaseTimeout) as exc:  # noqa: BLE001 - one broken case must not stop the run
        result.status, result.error = "error", f"{type(exc).__name__}: {exception_text(exc)}"
        result.reason = f"case crashed: {result.error}"
    return result


def run_file(path: str | Path, options: RunOptions = RunOptions(),
             engine_factory: Callable = default_engine_factory) -> list[CaseResult]:
    if options.bootstrap_servers and engine_factory is default_engine_factory:
        engine_factory = kafka_engine_factory(options.bootstrap_servers)
    areas = load_areas(options.areas_file)
    try:
        cases = load_cases(path, areas)
    except Exception as exc:  # noqa: BLE001
        return [CaseResult(Path(path).name, "<file>", "error", error=f"cannot load: {exc}",
                           reason=f"cannot load: {exc}")]
    return [run_case(c, options, engine_factory) for c in cases if options.selects(c)]


def run_paths(paths: Iterable[str | Path], options: RunOptions = RunOptions(), jobs: int = 1) -> list[CaseResult]:
    """Run every file; with jobs > 1 in a process pool. Results keep file order."""
    files = discover_files(paths)
    if jobs <= 1 or len(files) <= 1:
        return [r for f in files for r in run_file(f, options)]
    results: list[CaseResult] = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_file, f, options) for f in files]
        for path, future in zip(files, futures):
            results.extend(_file_results(path, future, options))
    return results


def _file_results(path: Path, future: concurrent.futures.Future, options: RunOptions) -> list[CaseResult]:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - e.g. the worker process died
        cases = [c for c in load_cases(path, load_areas(options.areas_file)) if options.selects(c)]
        return [CaseResult(c.file, c.name, "error", error=f"worker crashed: {exc!r}",
                           reason=f"worker crashed: {exc!r}", schema_registry=c.schema_registry,
                           area=c.area) for c in cases]


# --- reporting ----------------------------------------------------------------------------------

def summarize(results: list[CaseResult]) -> dict[str, dict[str, int]]:
    """Per area: passed/total over the cases that ran, and the same leaving out schema-registry cases."""
    summary: dict[str, dict[str, int]] = {}
    for result in results:
        if result.status == "skipped":
            continue
        counts = summary.setdefault(result.area or "other",
                                    {"passed": 0, "total": 0, "passed_no_sr": 0, "total_no_sr": 0})
        passed = int(result.status == "passed")
        counts["passed"] += passed
        counts["total"] += 1
        if not result.schema_registry:
            counts["passed_no_sr"] += passed
            counts["total_no_sr"] += 1
    return dict(sorted(summary.items()))


def build_report(results: list[CaseResult]) -> dict:
    return {"tests": [r.to_report() for r in results], "summary": summarize(results)}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value)) if value.is_finite() else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def write_report(results: list[CaseResult], path: str | Path) -> None:
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    Path(path).write_bytes(orjson.dumps(build_report(results), default=_json_default, option=options))


def console_lines(results: list[CaseResult], verbose: bool = False) -> list[str]:
    """Failing cases (verbose), per-area counts, and the closing `N passed, N failed` line."""
    lines = []
    if verbose:
        for r in results:
            if r.status in ("failed", "error"):
                lines.append(f"{r.status.upper()} {r.line}: {r.reason}")
            elif r.note:
                lines.append(f"passed {r.line}: {r.note}")
    for area, c in summarize(results).items():
        lines.append(f"{area}: {c['passed']}/{c['total']} passed "
                     f"(without schema registry: {c['passed_no_sr']}/{c['total_no_sr']})")
    count = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "error", "skipped")}
    if count["error"]:
        lines.append(f"{count['error']} of the failed raised unexpected errors")
    lines.append(f"{count['passed']} passed, {count['failed'] + count['error']} failed, "
                 f"{count['skipped']} skipped")
    return lines


# --- baseline (the conformance ratchet) ---------------------------------------------------------

def read_baseline(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.exists():
        return []
    return [line.rstrip("\n") for line in path.read_text().splitlines() if line.strip()]


def update_baseline(path: str | Path, results: list[CaseResult]) -> int:
    """Add the passing cases to the baseline (never removes a line); returns how many were added."""
    current = set(read_baseline(path))  # case names may end in spaces: lines are kept whole
    passing = {r.line for r in results if r.status == "passed"}
    Path(path).write_text("".join(f"{line}\n" for line in sorted(current | passing)))
    return len(passing - current)


def parse_baseline_line(line: str) -> tuple[str, str]:
    file, _, name = line.partition(" :: ")
    return file, name


# --- command ------------------------------------------------------------------------------------

def run_command(paths: list[str], report: Optional[str] = None, name_filter: Optional[str] = None,
                verbose: bool = False, jobs: int = 1, baseline: Optional[str] = None,
                bootstrap_servers: Optional[str] = None, extension_dir: Optional[str] = None) -> int:
    """The `ksqlite qtt` subcommand. Exit status 0 only if nothing failed."""
    options = RunOptions(name_filter=name_filter, bootstrap_servers=bootstrap_servers,
                         extension_dir=extension_dir)
    results = run_paths(paths, options, jobs=max(1, jobs))
    if report:
        write_report(results, report)
    for line in console_lines(results, verbose):
        print(line)
    if baseline:
        added = update_baseline(baseline, results)
        print(f"baseline {baseline}: {added} cases added", file=sys.stderr)
    return 0 if all(r.status in ("passed", "skipped") for r in results) else 1


def qtt_files_dir() -> Path:
    """Where the QTT files are (KSQLITE_QTT_DIR overrides the shared reference copy)."""
    return Path(os.environ.get("KSQLITE_QTT_DIR", SHARED_QTT_DIR / "query-validation-tests"))
