"""Running QTT cases end to end on the real engine: statements, inputs, outputs, post checks,
expected exceptions, crashes, and the process pool."""
import json
from pathlib import Path

from pyksqlite.shell.runners import qtt


SOURCE = "CREATE STREAM input (K STRING KEY, v INT) WITH (kafka_topic='input', value_format='JSON');"
CREATE = "CREATE STREAM OUTPUT AS SELECT K, v * 2 AS v FROM input;"


def case(**spec):
    spec.setdefault("statements", [SOURCE, CREATE])
    return qtt.QttCase("f.json", spec.get("name", "c"), spec, area="core")


def run(test_case, **options):
    return qtt.run_case(test_case, qtt.RunOptions(**options))


def inputs(*values):
    return [{"topic": "input", "key": "k", "value": {"v": v}, "timestamp": i} for i, v in enumerate(values)]


def outputs(*values):
    return [{"topic": "OUTPUT", "key": "k", "value": {"V": v}} for v in values]


def test_passing_case_reports_outputs():
    result = run(case(inputs=inputs(1, 2), outputs=outputs(2, 4)))
    assert (result.status, result.reason) == ("passed", None)
    assert [o["value"] for o in result.outputs] == [{"V": 2}, {"V": 4}]
    assert all(o["topic"] == "OUTPUT" for o in result.outputs)


def test_output_mismatch_fails_with_reason():
    result = run(case(inputs=inputs(1, 2), outputs=outputs(2, 5)))
    assert result.status == "failed" and "record 1" in result.reason and "value" in result.reason
    assert run(case(inputs=inputs(1), outputs=outputs(2, 4))).reason.endswith("expected 2 records, got 1")


def test_output_topic_matched_case_insensitively():
    expected = [dict(record, topic="output") for record in outputs(2)]
    assert run(case(inputs=inputs(1), outputs=expected)).status == "passed"


def test_unexpected_exception_is_an_error():
    result = run(case(statements=[SOURCE, "CREATE STREAM OUTPUT AS SELECT K, nope FROM input;"]))
    assert result.status == "error" and "NOPE" in result.error


def test_expected_exception():
    bad = "CREATE STREAM OUTPUT AS SELECT K, nope FROM input;"
    passed = run(case(statements=[SOURCE, bad], expectedException={"message": "NOPE"}))
    assert passed.status == "passed"
    wrong = run(case(statements=[SOURCE, bad], expectedException={"message": "other"}))
    assert wrong.status == "failed" and "other" in wrong.reason
    missing = run(case(expectedException={"message": "NOPE"}))
    assert missing.status == "failed" and "none was raised" in missing.reason


def test_report_shows_the_error_actually_raised_and_what_was_expected():
    bad = "CREATE STREAM OUTPUT AS SELECT K, nope FROM input;"
    expected = {"type": "io.confluent.ksql.util.KsqlStatementException", "message": "NOPE"}
    passed = run(case(statements=[SOURCE, bad], expectedException=expected))
    report = passed.to_report()
    assert report["status"] == "passed" and "NOPE" in report["error"] and report["error"] != "NOPE"
    assert report["error_type"] == "KsqlStatementException" and report["expected_error"] == expected
    plain = run(case(inputs=inputs(1), outputs=outputs(2))).to_report()
    assert plain["error"] is None and "error_type" not in plain and "expected_error" not in plain


def test_extension_dir_loads_ksqldbs_test_functions_into_every_case():
    udfs = str(Path(__file__).resolve().parents[1] / "conformance" / "udfs")
    statements = [SOURCE, "CREATE STREAM OUTPUT AS SELECT K, test_udf(v, 'x') AS v FROM input;"]
    spec = dict(statements=statements, inputs=inputs(1), outputs=outputs("doStuffIntString"))
    assert run(case(**spec), extension_dir=udfs).status == "passed"
    assert qtt.RunOptions(extension_dir=udfs).engine_properties() == {"ksql.extension.dir": udfs}


def test_post_sources_and_blacklist():
    good = {"name": "OUTPUT", "type": "stream", "schema": "K STRING KEY, V INT", "keyFormat": {"format": "KAFKA"}}
    assert run(case(post={"sources": [good]})).status == "passed"
    wrong_schema = run(case(post={"sources": [dict(good, schema="K STRING KEY, V BIGINT")]}))
    assert wrong_schema.status == "failed" and "schema" in wrong_schema.reason
    missing = run(case(post={"sources": [{"name": "NOPE", "type": "table"}]}))
    assert missing.status == "failed" and "NOPE" in missing.reason
    blacklisted = run(case(post={"topics": {"blacklist": "OUT.*"}}))
    assert blacklisted.status == "failed" and "blacklist" in blacklisted.reason


def test_disabled_case_is_skipped():
    skipped = qtt.run_case(qtt.QttCase("f.json", "c", {}, enabled=False))
    assert skipped.status == "skipped"


def test_crashing_engine_factory_is_an_error():
    def broken_factory(data_dir, properties):
        raise RuntimeError("cannot start")
    result = qtt.run_case(case(), engine_factory=broken_factory)
    assert result.status == "error" and "cannot start" in result.error


def write_file(directory: Path, name: str, tests: list[dict]) -> Path:
    path = directory / name
    path.write_text(json.dumps({"tests": tests}))
    return path


def test_run_paths_keeps_file_order_with_a_pool(tmp_path):
    # The real engine is not needed: cases that fail to load or run still come back, in order.
    write_file(tmp_path, "b.json", [{"name": "b1", "statements": [], "enabled": False}])
    write_file(tmp_path, "a.json", [{"name": "a1", "statements": [], "enabled": False},
                                    {"name": "a2", "statements": [], "enabled": False}])
    (tmp_path / "c.json").write_text("not json")
    serial = qtt.run_paths([tmp_path], qtt.RunOptions())
    pooled = qtt.run_paths([tmp_path], qtt.RunOptions(), jobs=2)
    assert [r.line for r in serial] == [r.line for r in pooled] == [
        "a.json :: a1", "a.json :: a2", "b.json :: b1", "c.json :: <file>"]
    assert [r.status for r in pooled] == ["skipped", "skipped", "skipped", "error"]
