"""REST query-validation tests (RQTT, reference 6.4) against a real server on a loopback port.

Per case: a fresh engine behind `ServerThread`; the statements before the first SELECT go to
`/ksql` as one batch, the inputs are produced, then each later statement goes to `/query`. The
`responses` are matched partially (only the keys the expectation lists; `key|startsWith` is a
prefix match; `{STATEMENT}` is the statement's text), `outputs` as QTT compares topic records, and
`expectedError` against the error body. Results are `qtt.CaseResult`s, reported like QTT files.
"""
from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from decimal import Decimal
from typing import Any, Optional

import httpx

from pyksqlite.shell.runners import qtt, qtt_compare

_QUERY = re.compile(r"^\s*(SELECT|PRINT)\s", re.IGNORECASE)
QUERY_READ_TIMEOUT = 8.0
DEFAULT_PARTITIONS = 4
# The RQTT server's settings (reference 6.4), as engine properties; a case's own win.
SERVER_PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest", "ksql.query.push.v2.enabled": True,
                     "ksql.query.pull.table.scan.enabled": True}


def is_rest_file(path) -> bool:
    return "rest-query-validation-tests" in str(path)


class Mismatch(Exception):
    pass


def run_case(case: qtt.QttCase, options: qtt.RunOptions = qtt.RunOptions()) -> qtt.CaseResult:
    result = qtt.CaseResult(case.file, case.name, "skipped", schema_registry=case.schema_registry, area=case.area)
    if not case.enabled:
        result.reason = "disabled (enabled: false)"
        return result
    seen: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="ksqlite-rqtt-", ignore_cleanup_errors=True) as data:
            problem = _observe_and_judge(case.spec, data, options, seen)
        result.status, result.reason = ("failed", problem) if problem else ("passed", None)
        result.error, result.error_type = seen.get("error"), seen.get("error_type")
        result.outputs = seen.get("outputs", [])
        result.expected_error = case.spec.get("expectedError")
    except Exception as exc:  # noqa: BLE001 - one broken case must not stop the run
        result.status, result.error = "error", f"{type(exc).__name__}: {exc}"
        result.reason = f"case crashed: {result.error}"
    return result


def _observe_and_judge(spec: dict, data_dir: str, options: qtt.RunOptions, seen: dict) -> Optional[str]:
    """Run the case on a server; None if it did what it expects, else why not. `seen` gets the
    error the server answered with (`error`, `error_type`), if any."""
    from pyksqlite.facade.engine import Engine
    from pyksqlite.shell.server import ServerThread
    properties = {**qtt.BASE_CONFIG, **SERVER_PROPERTIES, **(spec.get("properties") or {}),
                  **options.engine_properties()}
    engine = Engine(data_dir, properties=properties)
    try:
        for topic, partitions in topics_to_create(spec):
            engine.create_topic(topic, partitions)
        with ServerThread(engine, port=0) as server, \
                httpx.Client(base_url=server.url, timeout=httpx.Timeout(30, read=QUERY_READ_TIMEOUT)) as http:
            return _drive(spec, engine, server, http, seen)
    finally:
        engine.close()


def topics_to_create(spec: dict) -> list[tuple[str, int]]:
    """As QTT's, but a topic whose partitions no statement or `topics` entry gives has
    `DEFAULT_PARTITIONS`: RQTT runs on a real Kafka cluster, where the test tools' `Topic` has 4
    partitions by default (QTT's TopologyTestDriver is effectively one partition)."""
    declared = {t["name"] for t in spec.get("topics") or [] if t.get("partitions")}
    for statement in spec.get("statements") or []:
        topic = qtt._KAFKA_TOPIC.search(statement)
        if topic and qtt._PARTITIONS.search(statement):
            declared.add(topic.group(1).replace("''", "'"))
    return [(topic, partitions if topic in declared else DEFAULT_PARTITIONS)
            for topic, partitions in qtt.topics_to_create(spec)]


def _drive(spec: dict, engine, server, http: httpx.Client, seen: dict) -> Optional[str]:
    statements = spec.get("statements") or []
    first_query = next((i for i, s in enumerate(statements) if _QUERY.match(s)), len(statements))
    admin, queries = statements[:first_query], statements[first_query:]
    expected_error = spec.get("expectedError")
    responses: list[Any] = []
    if admin:
        reply = http.post("/ksql", json={"ksql": "\n".join(admin), "streamsProperties": {}})
        if reply.status_code != 200:
            return _judge_error(expected_error, reply, "admin statements", seen)
        responses.extend({"admin": entity} for entity in reply.json())
    wait_for_push = bool((spec.get("inputConditions") or {}).get("waitForActivePushQuery"))
    if not wait_for_push:
        _produce(engine, spec)
    for text in queries:
        body, status = _query(http, server, text, engine, spec if wait_for_push else None)
        wait_for_push = False
        if status != 200:
            return _judge_error(expected_error, body, text, seen)
        responses.append({"query": body})
    if expected_error:
        return f"expected error {expected_error.get('message')!r}, but every statement succeeded"
    _settle(engine)
    problem = _outputs_mismatch(spec, engine, seen)
    if problem:
        return problem
    # As ksqlDB's RestTestExecutor: a query's rows are compared as a multiset unless the case
    # asks for `outputConditions.verifyOrder` (a table scan's order is the partitions').
    return _responses_mismatch(spec.get("responses") or [], responses, statements,
                               bool((spec.get("outputConditions") or {}).get("verifyOrder", False)))


def _produce(engine, spec: dict) -> None:
    for raw in spec.get("inputs") or []:
        engine.produce_test_records([qtt.input_record(raw)])
    _settle(engine)


def _settle(engine, quiet: float = 0.3, limit: float = 10.0) -> None:
    """Wait until the persistent queries have processed everything (the scheduler runs them)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        engine.run_until_idle(timeout=5)
        if engine.caught_up():
            time.sleep(quiet / 3)
            if engine.caught_up():
                return
        time.sleep(0.02)


def _query(http: httpx.Client, server, text: str, engine, produce_spec: Optional[dict]):
    """(elements or error body, status) of one /query request, read until it ends or goes quiet."""
    chunks: list[bytes] = []
    status = [0]

    def request() -> None:
        try:
            with http.stream("POST", "/query", json={"ksql": text, "streamsProperties": {}}) as response:
                status[0] = response.status_code
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
        except httpx.ReadTimeout:
            pass

    reader = threading.Thread(target=request, daemon=True)
    reader.start()
    if produce_spec is not None:
        deadline = time.monotonic() + 10
        while not server.app.state.ksql.push_queries and reader.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        _produce(engine, produce_spec)
    reader.join(QUERY_READ_TIMEOUT + 30)
    raw = b"".join(chunks).decode()
    if status[0] != 200:
        try:
            return json.loads(raw, parse_float=Decimal), status[0]
        except ValueError:
            return {"message": raw}, status[0]
    return _elements(raw), 200


def _elements(raw: str) -> list[Any]:
    """The elements of a (possibly unfinished) /query array, one per line."""
    out = []
    for line in raw.split("\n"):
        text = line.strip()
        if text.startswith("["):
            text = text[1:]
        text = text.rstrip(",")
        if text.endswith("]") and not text.endswith("]]") and text.count("[") < text.count("]"):
            text = text[:-1]
        if text:
            out.append(json.loads(text, parse_float=Decimal))
    return out


def _judge_error(expected: Optional[dict], reply, where: str, seen: dict) -> Optional[str]:
    body = reply.json() if isinstance(reply, httpx.Response) else reply
    status = reply.status_code if isinstance(reply, httpx.Response) else None
    message = body.get("message", "") if isinstance(body, dict) else str(body)
    seen["error"] = message
    if isinstance(body, dict) and body.get("@type"):
        seen["error_type"] = body["@type"]
    if not expected:
        return f"unexpected error in {where}: {message}"
    if expected.get("message") and expected["message"] not in message:
        return f"expected error message containing {expected['message']!r}, got {message!r}"
    if status is not None and expected.get("status") and expected["status"] != status:
        return f"expected HTTP {expected['status']}, got {status}"
    return None


def _outputs_mismatch(spec: dict, engine, seen: dict) -> Optional[str]:
    """The expected topics' records against theirs (which go to `seen["outputs"]`)."""
    expected: dict[str, list[dict]] = {}
    for record in spec.get("outputs") or []:
        expected.setdefault(record["topic"], []).append(record)
    topics = engine.topic_names()
    for topic, records in expected.items():
        name = next((t for t in topics if t.upper() == topic.upper()), topic)
        actual = list(engine.read_topic_records(name)) if name in topics else []
        seen.setdefault("outputs", []).extend(
            {"topic": name, "key": r.key, "value": r.value, "timestamp": r.timestamp, "window": r.window}
            for r in actual)
        problem = qtt_compare.records_mismatch(topic, records, actual, bool(spec.get("inputs")))
        if problem:
            return problem
    return None


# --- matching responses -------------------------------------------------------------------------

def _responses_mismatch(expected: list, actual: list, statements: list[str], verify_order: bool) -> Optional[str]:
    if len(actual) < len(expected):
        return f"expected {len(expected)} responses, got {len(actual)}: {actual}"
    for index, (want, got) in enumerate(zip(expected, actual)):
        statement = statements[index] if index < len(statements) else ""
        kind = next(iter(want))
        if kind not in got:
            return f"response {index}: expected {kind}, got {list(got)}"
        if kind == "query":
            problem = _query_mismatch(want[kind], got[kind], statement, verify_order)
        else:
            problem = partial_mismatch(want[kind], got[kind], statement, f"response {index}")
        if problem:
            return problem
    return None


def _query_mismatch(want: list, got: list, statement: str, verify_order: bool) -> Optional[str]:
    if len(want) != len(got):
        return f"query {statement!r}: expected {len(want)} elements, got {len(got)}: {got}"
    if verify_order:
        for index, (w, g) in enumerate(zip(want, got)):
            problem = partial_mismatch(w, g, statement, f"query element {index}")
            if problem:
                return problem
        return None
    # Unordered, as ksqlDB's harness: every element matches in place except its rows' columns,
    # which must match as a multiset.
    wanted_rows, got_rows = [], []
    for index, (w, g) in enumerate(zip(want, got)):
        w, w_columns = _without_columns(w)
        g, g_columns = _without_columns(g)
        problem = partial_mismatch(w, g, statement, f"query element {index}")
        if problem:
            return problem
        wanted_rows += w_columns
        got_rows += g_columns if w_columns else []
    for columns in wanted_rows:
        match = next((g for g in got_rows if partial_mismatch(columns, g, statement, "") is None), None)
        if match is None:
            return f"query {statement!r}: no row has columns {columns} in {got}"
        got_rows.remove(match)
    return None


def _without_columns(element: Any) -> tuple[Any, list]:
    """A query element without its `row.columns`, and those columns (as a one-item list)."""
    if not isinstance(element, dict) or not isinstance(element.get("row"), dict) \
            or "columns" not in element["row"]:
        return element, []
    row = {k: v for k, v in element["row"].items() if k != "columns"}
    return {**element, "row": row}, [element["row"]["columns"]]


def partial_mismatch(want: Any, got: Any, statement: str, where: str) -> Optional[str]:
    """None if `got` has everything `want` lists (recursively); else where it differs."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"{where}: expected an object {want}, got {got!r}"
        for key, value in want.items():
            name, _, matcher = key.partition("|")
            if name not in got:
                return f"{where}: missing {name!r} in {got}"
            if matcher in ("startsWith", "starts_with"):
                if not str(got[name]).startswith(str(value)):
                    return f"{where}.{name}: {got[name]!r} does not start with {value!r}"
                continue
            problem = partial_mismatch(value, got[name], statement, f"{where}.{name}")
            if problem:
                return problem
        return None
    if isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            return f"{where}: expected {want}, got {got!r}"
        for index, (w, g) in enumerate(zip(want, got)):
            problem = partial_mismatch(w, g, statement, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if isinstance(want, str) and "{STATEMENT}" in want:
        want = want.replace("{STATEMENT}", statement)
        return None if str(got).rstrip(";") == want.rstrip(";") else f"{where}: expected {want!r}, got {got!r}"
    if isinstance(want, (int, float, Decimal)) and not isinstance(want, bool) and \
            isinstance(got, (int, float, Decimal)) and not isinstance(got, bool):
        return None if abs(float(want) - float(got)) < 1e-6 else f"{where}: expected {want}, got {got}"
    return None if want == got else f"{where}: expected {want!r}, got {got!r}"


# --- command ------------------------------------------------------------------------------------

def run_paths(paths, options: qtt.RunOptions = qtt.RunOptions()) -> list[qtt.CaseResult]:
    areas = qtt.load_areas(options.areas_file)
    results = []
    for path in qtt.discover_files(paths):
        for case in qtt.load_cases(path, areas):
            if options.selects(case):
                results.append(run_case(case, options))
    return results
