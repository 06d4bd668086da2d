"""The `ksqlite` command line: subcommand dispatch and the qtt subcommand's outputs."""
import json

import orjson

from shell import cli


def test_no_or_unknown_subcommand_prints_help(capsys):
    assert cli.main([]) == 0
    assert "qtt" in capsys.readouterr().out
    assert cli.main(["repl"]) == 2
    assert "usage: ksqlite" in capsys.readouterr().out


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
