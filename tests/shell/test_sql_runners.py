"""`ksqlite test` (run-ksql-test files) and `ksqlite test-runner` (statements + JSON records) on the
examples the CI job uses, plus a failing test that must fail."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ci"


def ksqlite(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pyksqlite.shell.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd or Path(__file__).resolve().parents[2])


def test_sql_test_file_passes_with_junit(tmp_path):
    report = tmp_path / "junit.xml"
    done = ksqlite("test", str(EXAMPLES / "pageviews_test.sql"), "--junit-xml", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(">>> Test passed!") == 3
    assert 'tests="3" failures="0"' in report.read_text()


def test_sql_test_failure_exits_1(tmp_path):
    bad = tmp_path / "bad.sql"
    bad.write_text("--@test: wrong value\n"
                   "CREATE STREAM s (id INT KEY, v STRING) WITH (kafka_topic='s', partitions=1, value_format='JSON');\n"
                   "CREATE STREAM t AS SELECT * FROM s;\n"
                   "INSERT INTO s (id, v) VALUES (1, 'a');\n"
                   "ASSERT VALUES t (id, v) VALUES (1, 'b');\n"
                   "--@test: expected error that does not happen\n"
                   "--@expected.message: nope\n"
                   "CREATE STREAM u (id INT KEY) WITH (kafka_topic='u', partitions=1, value_format='JSON');\n")
    done = ksqlite("test", str(bad))
    assert done.returncode == 1
    assert done.stdout.count("Test failed") == 2


def test_test_runner_passes_and_fails(tmp_path):
    ok = ksqlite("test-runner", "-s", str(EXAMPLES / "statements.sql"), "-i", str(EXAMPLES / "input.json"),
                 "-o", str(EXAMPLES / "output.json"))
    assert ok.returncode == 0 and ">>> Test passed!" in ok.stdout
    wrong = tmp_path / "output.json"
    wrong.write_text('{"outputs": [{"topic": "HOME_VIEWS", "key": 9, "value": {"PAGE": "home"}}]}')
    failed = ksqlite("test-runner", "-s", str(EXAMPLES / "statements.sql"), "-i", str(EXAMPLES / "input.json"),
                     "-o", str(wrong))
    assert failed.returncode == 1 and "Test failed" in failed.stdout


def test_rest_qtt_response_matching():
    from pyksqlite.shell.runners.rest_qtt import partial_mismatch
    got = {"header": {"queryId": "transient_X_1", "schema": "`ID` STRING KEY"}}
    assert partial_mismatch({"header": {"schema": "`ID` STRING KEY"}}, got, "", "r") is None
    assert partial_mismatch({"header": {"queryId|startsWith": "transient_"}}, got, "", "r") is None
    assert partial_mismatch({"header": {"queryId|starts_with": "query_"}}, got, "", "r") is not None
    assert partial_mismatch({"statementText": "{STATEMENT}"}, {"statementText": "SHOW X;"}, "SHOW X;", "r") is None
