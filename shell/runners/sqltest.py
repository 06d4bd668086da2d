"""`ksqlite test DIR|FILE.sql`: ksqlDB's run-ksql-test format (reference 6.2).

A file holds tests, each starting at a `--@test: name` line, optionally with
`--@expected.error: <exception class>` and `--@expected.message: <substring>`. A test runs its
statements on a fresh engine; `ASSERT VALUES src (cols) VALUES (...)` checks the next record of
src's topic, `ASSERT NULL VALUES src (cols) KEY (...)` checks that it is a tombstone with that key,
and `ASSERT STREAM|TABLE name (cols)` checks the source's schema. Prints `>>> Test passed!` per
passing test; the exit status is 1 if any failed; `--junit-xml` writes a report for CI.
"""
from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from xml.sax.saxutils import escape, quoteattr

from pyksqlite.grammar import ast
from pyksqlite.grammar.parser import parse_statement, split_statements
from pyksqlite.shell.runners.production_order import ProductionOrder
from pyksqlite.shell.server_formats import json_value

_DIRECTIVE = re.compile(r"^\s*--@([\w.]+):\s*(.*?)\s*$")


@dataclass
class SqlTest:
    name: str
    file: str
    statements: list[str] = field(default_factory=list)
    expected_error: Optional[str] = None
    expected_message: Optional[str] = None


@dataclass
class TestOutcome:
    __test__ = False
    test: SqlTest
    passed: bool
    reason: str = ""
    seconds: float = 0.0


class AssertionFailed(Exception):
    pass


def load_tests(path: Path) -> list[SqlTest]:
    tests: list[SqlTest] = []
    current: Optional[SqlTest] = None
    body: list[str] = []

    def close() -> None:
        if current is not None:
            current.statements = split_statements("\n".join(body))

    for line in path.read_text().splitlines():
        directive = _DIRECTIVE.match(line)
        if directive and directive.group(1) == "test":
            close()
            current, body = SqlTest(directive.group(2), path.name), []
            tests.append(current)
        elif directive and current is not None and directive.group(1) == "expected.error":
            current.expected_error = directive.group(2)
        elif directive and current is not None and directive.group(1) == "expected.message":
            current.expected_message = directive.group(2)
        elif current is not None:
            body.append(line)
    close()
    return tests


def run_test(test: SqlTest, temp_folder: Optional[str] = None) -> TestOutcome:
    from pyksqlite.facade.engine import Engine
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ksqlite-test-", dir=temp_folder, ignore_cleanup_errors=True) as data:
        engine = Engine(data, properties={"ksqlite.log.flush": "none", "auto.offset.reset": "earliest"})
        try:
            error = _run_statements(engine, test)
        finally:
            engine.close()
    seconds = time.monotonic() - started
    expects_error = test.expected_error or test.expected_message
    if error is None:
        if expects_error:
            return TestOutcome(test, False, f"expected an error ({test.expected_error or ''} "
                                            f"{test.expected_message or ''}) but the test ran", seconds)
        return TestOutcome(test, True, "", seconds)
    message = getattr(error, "message", None) or str(error)
    if not expects_error or isinstance(error, AssertionFailed):
        return TestOutcome(test, False, message, seconds)
    if test.expected_message and test.expected_message not in message:
        return TestOutcome(test, False, f"expected message containing {test.expected_message!r}, got {message!r}", seconds)
    return TestOutcome(test, True, "", seconds)


def _run_statements(engine, test: SqlTest) -> Optional[Exception]:
    """Each statement is processed before the next (an INSERT's record goes through the queries
    at once), as ksqlDB's test driver pipes it."""
    cursors: dict[str, int] = {}
    order = ProductionOrder(engine)
    try:
        for text in test.statements:
            statement = parse_statement(text, client_statements=True)
            if isinstance(statement, (ast.AssertValues, ast.AssertNullValues)):
                _assert_record(engine, order, statement, cursors)
            elif isinstance(statement, ast.AssertSource):
                _assert_source(engine, statement)
            else:
                engine.execute(text)
                engine.run_until_idle(timeout=30)
                order.mark()
        return None
    except Exception as exc:  # noqa: BLE001 - a failing statement is the test's outcome
        return exc


def _columns_of(engine, source, record) -> dict[str, Any]:
    """A record's column values by name, from its decoded key and value."""
    keys = [c.name for c in source.schema.key_columns]
    values = [c.name for c in source.schema.columns if c.namespace == "VALUE"]
    out: dict[str, Any] = {}
    if isinstance(record.key, dict):
        out.update({k.upper(): v for k, v in record.key.items()})
    elif keys:
        out[keys[0]] = record.key
    if isinstance(record.value, dict):
        upper = {k.upper(): v for k, v in record.value.items()}
        out.update({name: upper.get(name.upper()) for name in values})
    elif isinstance(record.value, str) and source.value_format.name == "DELIMITED":
        out.update(dict(zip(values, record.value.split(","))))
    elif values:
        out[values[0]] = record.value
    return out


def _assert_record(engine, order: ProductionOrder, statement, cursors: dict[str, int]) -> None:
    source = engine.catalog.get_source(statement.source)
    if source is None:
        raise AssertionFailed(f"Cannot check values: {statement.source} does not exist")
    records = order.records(source.topic)
    position = cursors.get(source.topic, 0)
    if position >= len(records):
        raise AssertionFailed(f"Expected another record ({statement.text}) for {source.name}, "
                              f"but already read all records: {len(records)}")
    cursors[source.topic] = position + 1
    record = records[position]
    expected, rowtime = engine.row_from_values(statement)
    actual = _columns_of(engine, source, record)
    is_null = isinstance(statement, ast.AssertNullValues)
    if is_null and record.value is not None:
        raise AssertionFailed(f"Expected a tombstone {statement.text}, got value {record.value}")
    if not is_null and record.value is None:
        raise AssertionFailed(f"Expected {statement.text}, got a tombstone")
    for name, value in expected.items():
        got = actual.get(name)
        if not _same(value, got):
            raise AssertionFailed(f"Expected record does not match actual. Expected: {expected} vs. "
                                  f"Actual: {actual} (column {name}: {json_value(value)!r} != {json_value(got)!r})")
    if rowtime is not None and rowtime != record.timestamp:
        raise AssertionFailed(f"Expected ROWTIME {rowtime}, got {record.timestamp}")


def _same(expected: Any, actual: Any) -> bool:
    left, right = json_value(expected), json_value(actual)
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return abs(float(left) - float(right)) < 1e-9
    if hasattr(left, "contents"):  # an exact decimal fragment
        left = float(str(expected))
        return isinstance(right, (int, float, str)) and abs(left - float(right)) < 1e-9
    return left == right


def _assert_source(engine, statement) -> None:
    description = engine.describe_source(statement.name)
    if description["type"] != statement.kind:
        raise AssertionFailed(f"Expected {statement.name} to be a {statement.kind}, it is a {description['type']}")
    from pyksqlite.shell.render import _schema_text
    actual = [(f["name"], _normalize(_schema_text(f["schema"])), f.get("type") == "KEY")
              for f in description["fields"]]
    expected = [(c.name, _normalize(str(c.type)), bool(c.constraint)) for c in statement.columns]
    if actual != expected:
        raise AssertionFailed(f"Expected schema {expected} for {statement.name}, got {actual}")


def _normalize(type_text: str) -> str:
    return re.sub(r"\s+", "", type_text.upper()).replace("VARCHAR", "STRING").replace("`", "")


# --- command -----------------------------------------------------------------------------------

def discover(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        files.extend(sorted(path.rglob("*.sql")) if path.is_dir() else [path])
    return files


def run_command(paths: list[str], junit_xml: Optional[str] = None, temp_folder: Optional[str] = None) -> int:
    outcomes: list[TestOutcome] = []
    for file in discover(paths):
        for test in load_tests(file):
            print(f"--@test: {test.name} ({file})")
            outcome = run_test(test, temp_folder)
            outcomes.append(outcome)
            print("\t>>> Test passed!" if outcome.passed else f"\t>>>>> Test failed: {outcome.reason}", flush=True)
    failed = sum(not o.passed for o in outcomes)
    print(f"{len(outcomes) - failed} passed, {failed} failed")
    if junit_xml:
        write_junit(outcomes, junit_xml)
    return 1 if failed or not outcomes else 0


def write_junit(outcomes: list[TestOutcome], path: str) -> None:
    failures = sum(not o.passed for o in outcomes)
    total = sum(o.seconds for o in outcomes)
    cases = []
    for o in outcomes:
        inner = "" if o.passed else f"<failure message={quoteattr(o.reason[:500])}>{escape(o.reason)}</failure>"
        cases.append(f'  <testcase classname={quoteattr(o.test.file)} name={quoteattr(o.test.name)} '
                     f'time="{o.seconds:.3f}">{inner}</testcase>')
    Path(path).write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="ksqlite" tests="{len(outcomes)}" '
                          f'failures="{failures}" errors="0" time="{total:.3f}">\n' + "\n".join(cases) + "\n</testsuite>\n")
