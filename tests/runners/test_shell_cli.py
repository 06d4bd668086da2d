"""The `ksqlite` command line: subcommand dispatch and the qtt subcommand's outputs."""
import json

import orjson

from pyksqlite.shell import cli


def test_help_lists_the_subcommands(capsys):
    # Plain `ksqlite` opens the REPL (tested in a real terminal in tests/shell); --help lists commands.
    try:
        cli.main(["--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    out = capsys.readouterr().out
    assert "qtt" in out and "serve" in out and "usage: ksqlite" in out


def test_qtt_subcommand_report_and_baseline(tmp_path, capsys):
    qtt_file = tmp_path / "filter.json"
    qtt_file.write_text(json.dumps({"tests": [
        {"name": "off", "statements": [], "enabled": False},
        {"name": "broken", "statements": [], "format": ["JSON"]},
    ]}))
    report, baseline = tmp_path / "r.json", tmp_path / "baseline.txt"
    status = cli.main(["qtt", str(tmp_path), "--report", str(report), "--filter", "broken",
                       "--update-baseline", str(baseline), "-v"])
    out = capsys.readouterr().out.strip().splitlines()
    tests = orjson.loads(report.read_bytes())["tests"]
    assert [t["name"] for t in tests] == ["broken - JSON"]
    assert out[-1] == f"{int(tests[0]['status'] == 'passed')} passed, " \
                      f"{int(tests[0]['status'] != 'passed')} failed, 0 skipped"
    assert status == (0 if tests[0]["status"] == "passed" else 1)
    assert baseline.exists()


def test_describe_result():
    assert cli.describe_result({"@type": "currentStatus", "commandStatus": {"message": "Stream created"}}) \
        == "Stream created"
    assert cli.describe_result({"@type": "streams", "statementText": "SHOW STREAMS;"}) == "streams: SHOW STREAMS;"
