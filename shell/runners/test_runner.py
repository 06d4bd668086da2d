"""`ksqlite test-runner -s statements.sql -i input.json -o output.json`: ksqlDB's ksql-test-runner
(reference 6.1). The input file is `{"inputs": [records]}`, the output file `{"outputs": [records]}`,
records in the QTT format; outputs are compared per topic, in order, as QTT compares them."""
from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Optional

from pyksqlite.shell.runners import qtt, qtt_compare
from pyksqlite.shell.runners.production_order import ProductionOrder


def run(statements: str, inputs: list[dict], outputs: list[dict],
        extension_dir: Optional[str] = None) -> Optional[str]:
    """None if the outputs match, else why not. `extension_dir`: Python UDFs to load."""
    from pyksqlite.facade.engine import Engine
    with tempfile.TemporaryDirectory(prefix="ksqlite-test-runner-", ignore_cleanup_errors=True) as data:
        spec = {"statements": [statements], "inputs": inputs}
        properties = dict(qtt.BASE_CONFIG, **({"ksql.extension.dir": extension_dir} if extension_dir else {}))
        engine = Engine(data, properties=properties)
        try:
            for topic, partitions in qtt.topics_to_create({"statements": _split(statements), "inputs": inputs}):
                engine.create_topic(topic, partitions)
            order = ProductionOrder(engine)
            for statement in _split(statements):   # each processed before the next, as the TTD does
                engine.execute(statement)
                engine.run_until_idle(timeout=30)
                order.mark()
            for raw in inputs:
                engine.produce_test_records([qtt.input_record(raw)])
                engine.run_until_idle(timeout=30)
                order.mark()
            topics = engine.topic_names()
            expected: dict[str, list[dict]] = {}
            for record in outputs:
                expected.setdefault(record["topic"], []).append(record)
            for topic, records in expected.items():
                name = next((t for t in topics if t.upper() == topic.upper()), topic)
                actual = order.records(name) if name in topics else []
                problem = qtt_compare.records_mismatch(topic, records, actual, bool(spec["inputs"]))
                if problem:
                    return problem
        finally:
            engine.close()
    return None


def _split(statements: str) -> list[str]:
    from pyksqlite.grammar.parser import split_statements
    return split_statements(statements)


def run_command(sql_file: str, input_file: Optional[str], output_file: str,
                extension_dir: Optional[str] = None) -> int:
    statements = Path(sql_file).read_text()
    inputs = _load(input_file).get("inputs", []) if input_file else []
    outputs = _load(output_file).get("outputs", [])
    try:
        problem = run(statements, inputs, outputs, extension_dir)
    except Exception as exc:  # noqa: BLE001 - a failing statement fails the test
        problem = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
    if problem:
        print(f"\t >>>>> Test failed: {problem}")
        return 1
    print("\t >>> Test passed!")
    return 0


def _load(path: str) -> dict:
    return json.loads(Path(path).read_text(), parse_float=Decimal)
