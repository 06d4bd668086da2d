"""`ksqlite qtt`: run ksqlDB's query-validation tests (QTT) against the engine.

A QTT file holds cases (statements, input records, expected output records, an expected exception,
post-conditions on sources and topics); reference 6.3 describes the format. The pipeline is:
load + expand a file into `QttCase`s (`qtt_cases`) -> `observe_case` drives a fresh Engine for one
case (`qtt_observe`, the only module that talks to the engine) -> `judge` (here) compares what was
observed with the expectations (rules in `qtt_compare`) -> `CaseResult`s -> report JSON, console
summary and the baseline (`qtt_report`).
"""
from __future__ import annotations

import concurrent.futures
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from pyksqlite.shell.runners import qtt_compare
from pyksqlite.shell.runners.qtt_cases import QttCase, discover_files, load_areas, load_cases
from pyksqlite.shell.runners.qtt_observe import (IDLE_TIMEOUT_SECONDS, CaseTimeout, Observation, deadline,
                                                 default_engine_factory, error_type, exception_text,
                                                 kafka_engine_factory, observe_case, simple_class_name)
from pyksqlite.shell.runners.qtt_report import CaseResult, console_lines, update_baseline, write_report

CASE_TIMEOUT_SECONDS = 60.0


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


# --- judging ------------------------------------------------------------------------------------

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
    want_type = simple_class_name(expected.get("type"))
    got_type = error_type(actual)
    note = f"exception type {got_type} (expected {want_type})" if want_type != got_type else None
    return "passed", message, None, note


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
