"""QTT file loading, case expansion, areas, report writing and the baseline (no engine needed)."""
from decimal import Decimal
from pathlib import Path

import orjson

from pyksqlite.shell.runners import qtt
from tests.reference import qtt_root

AREAS_MD = """# Capability areas

## core (query-validation-tests/)
filter, select

## functions (query-validation-tests/)
concat, json_sr
"""


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_load_areas(tmp_path):
    areas = qtt.load_areas(write_text(tmp_path / "AREAS.md", AREAS_MD))
    assert areas == {"filter": "core", "select": "core", "concat": "functions", "json_sr": "functions"}


def test_shared_areas_cover_every_shared_file():
    qtt_root()
    files = qtt.discover_files([qtt.qtt_files_dir()])
    areas = qtt.load_areas()
    assert {f.stem for f in files} <= set(areas)


def test_expand_per_format():
    raw = {"name": "n", "format": ["JSON", "AVRO"],
           "statements": ["CREATE STREAM S (A INT) WITH (kafka_topic='t', value_format='{FORMAT}');"]}
    cases = qtt.expand_case("f.json", raw, "core")
    assert [c.name for c in cases] == ["n - JSON", "n - AVRO"]
    assert "value_format='JSON'" in cases[0].spec["statements"][0]
    assert "value_format='AVRO'" in cases[1].spec["statements"][0]
    assert [c.schema_registry for c in cases] == [False, True]
    assert cases[0].line == "f.json :: n - JSON"
    assert raw["statements"][0].count("{FORMAT}") == 1  # the raw case is untouched


def test_expand_per_config_value():
    raw = {"name": "n", "config": ["true", "false"], "statements": ["SELECT 1;"],
           "properties": {"ksql.new.query.planner.enabled": "{CONFIG}", "other": 1}}
    cases = qtt.expand_case("f.json", raw)
    assert [c.name for c in cases] == ["n - true", "n - false"]
    assert [c.spec["properties"]["ksql.new.query.planner.enabled"] for c in cases] == ["true", "false"]
    assert cases[0].spec["properties"]["other"] == 1


def test_expand_format_and_config_multiply():
    raw = {"name": "n", "format": ["JSON", "DELIMITED"], "config": [1, 2], "statements": [],
           "properties": {"p": "{CONFIG}"}}
    assert [c.name for c in qtt.expand_case("f.json", raw)] == [
        "n - JSON - 1", "n - JSON - 2", "n - DELIMITED - 1", "n - DELIMITED - 2"]


def test_disabled_and_plain_cases():
    assert qtt.expand_case("f.json", {"name": "x", "statements": [], "enabled": False})[0].enabled is False
    assert qtt.expand_case("f.json", {"name": "x", "statements": []})[0].enabled is True


def test_schema_registry_detection():
    sql = "CREATE STREAM S (A INT) WITH (kafka_topic='t', value_format = 'protobuf');"
    assert qtt.uses_schema_registry({"statements": [sql]})
    assert qtt.uses_schema_registry({"statements": [], "topics": [{"name": "t", "valueFormat": "JSON_SR"}]})
    assert qtt.uses_schema_registry({"statements": [], "properties": {"ksql.persistence.default.format.value": "AVRO"}})
    assert not qtt.uses_schema_registry({"statements": ["CREATE STREAM S WITH (value_format='JSON');"]})


def test_load_cases_keeps_decimal_scale(tmp_path):
    path = tmp_path / "filter.json"
    path.write_text('{"tests": [{"name": "a", "statements": [], "outputs": [{"topic": "O", "value": 1.10}]}]}')
    (case,) = qtt.load_cases(path, {"filter": "core"})
    value = case.spec["outputs"][0]["value"]
    assert isinstance(value, Decimal) and str(value) == "1.10"
    assert case.area == "core" and case.file == "filter.json"


def test_topics_to_create_declared_and_inputs_only():
    spec = {"topics": [{"name": "a", "partitions": 4}, {"name": "b"}],
            "inputs": [{"topic": "c", "value": 1}, {"topic": "a", "value": 2}],
            "outputs": [{"topic": "OUT", "value": 1}]}
    assert qtt.topics_to_create(spec) == [("a", 4), ("b", 1), ("c", 1)]


def test_topics_of_source_statements_are_created_but_not_sinks():
    spec = {"statements": [
        "CREATE STREAM S (ID INT KEY) WITH (kafka_topic='src', partitions=3, value_format='JSON');",
        "create or replace table T (ID INT PRIMARY KEY) with (KAFKA_TOPIC = 'tbl', format='JSON');",
        "CREATE STREAM O WITH (kafka_topic='sink') AS SELECT * FROM S;",
        "INSERT INTO S (ID) VALUES (1);"]}
    assert qtt.topics_to_create(spec) == [("src", 3), ("tbl", 1)]


def test_input_record_defaults_and_conversions():
    rec = qtt.input_record({"topic": "t", "value": {"A": Decimal("1.5")},
                            "headers": [{"key": "h", "value": "IQ=="}]})
    assert rec.key is None and rec.timestamp == 0 and rec.window is None
    assert rec.value == {"A": 1.5} and isinstance(rec.value["A"], float)
    assert rec.headers == [{"KEY": "h", "VALUE": "IQ=="}]


def test_run_options_select_by_filter_and_only():
    case = qtt.QttCase("f.json", "case one", {})
    assert qtt.RunOptions().selects(case)
    assert qtt.RunOptions(name_filter="f.json :: case").selects(case)
    assert not qtt.RunOptions(name_filter="two").selects(case)
    assert qtt.RunOptions(only=frozenset({"f.json :: case one"})).selects(case)
    assert not qtt.RunOptions(only=frozenset()).selects(case)


def results():
    R = qtt.CaseResult
    return [
        R("a.json", "p", "passed", area="core",
          outputs=[{"topic": "O", "key": 1, "value": {"D": Decimal("1.10"), "B": b"\x01"},
                    "timestamp": 0, "window": None}]),
        R("a.json", "f", "failed", reason="value differs", area="core"),
        R("a.json", "sr", "error", error="boom", reason="boom", area="core", schema_registry=True),
        R("b.json", "s", "skipped", area="functions"),
        R("c.json", "x", "passed", area=None, schema_registry=True),
    ]


def test_summary_per_area():
    assert qtt.summarize(results()) == {
        "core": {"passed": 1, "total": 3, "passed_no_sr": 1, "total_no_sr": 2},
        "other": {"passed": 1, "total": 1, "passed_no_sr": 0, "total_no_sr": 0},
    }


def test_report_json(tmp_path):
    path = tmp_path / "r.json"
    qtt.write_report(results(), path)
    assert b'"D": 1.10' in path.read_bytes()
    report = orjson.loads(path.read_bytes())
    first = report["tests"][0]
    assert set(first) == {"file", "name", "status", "outputs", "error", "reason", "schema_registry", "area"}
    assert first["outputs"][0]["value"] == {"D": 1.1, "B": "AQ=="}
    assert report["summary"]["core"]["total"] == 3


def test_console_lines_end_with_counts():
    lines = qtt.console_lines(results(), verbose=True)
    assert lines[-1] == "2 passed, 2 failed, 1 skipped"
    assert any(line.startswith("FAILED a.json :: f: value differs") for line in lines)
    assert any(line.startswith("core: 1/3 passed") for line in lines)


def test_baseline_only_grows(tmp_path):
    path = tmp_path / "baseline.txt"
    path.write_text("z.json :: old\n")
    added = qtt.update_baseline(path, results())
    assert added == 2
    assert path.read_text().splitlines() == ["a.json :: p", "c.json :: x", "z.json :: old"]
    assert qtt.update_baseline(path, []) == 0
    assert len(qtt.read_baseline(path)) == 3
    assert qtt.parse_baseline_line("a.json :: p - JSON") == ("a.json", "p - JSON")
