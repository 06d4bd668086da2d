"""ksqlDB substitutes `${name}` in a statement's text before parsing it, everywhere: the CLI
(interactive, -f, -e, RUN SCRIPT, --define) and the server. Undefined references stay as written,
`$${name}` escapes one, and `ksql.variable.substitution.enable=false` turns substitution off."""
from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.grammar.parser import substitute_variables
from pyksqlite.shell.client import LocalBackend
from pyksqlite.shell.repl import Shell

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shell(tmp_path):
    engine = Engine(tmp_path / "data", {"ksqlite.log.flush": "none", "auto.offset.reset": "earliest"})
    engine.start()
    out = io.StringIO()
    sh = Shell(LocalBackend(engine), out=out)
    yield sh, out
    engine.close()


def test_substitution_rules():
    variables = {"topicName": "t1", "n": "3"}
    assert substitute_variables("kafka_topic='${topicname}' LIMIT ${ N }", variables) == "kafka_topic='t1' LIMIT 3"
    assert substitute_variables("SELECT '${missing}'", variables) == "SELECT '${missing}'"
    assert substitute_variables("SELECT '$${n}'", variables) == "SELECT '${n}'"


def test_source_names_and_limits_are_substituted_before_parsing(shell):
    sh, out = shell
    assert sh.run_text("DEFINE name = 'orders'; DEFINE topic = 'orders_topic'; DEFINE n = '1';"
                       "CREATE STREAM ${name} (id INT KEY, v STRING) "
                       "WITH (kafka_topic='${topic}', partitions=1, value_format='JSON');"
                       "INSERT INTO ${name} (id, v) VALUES (1, 'a');"
                       "INSERT INTO ${name} (id, v) VALUES (2, 'b');")
    sh.backend.engine.run_until_idle()
    assert sh.run_text("SELECT * FROM ${NAME} EMIT CHANGES LIMIT ${n};"), out.getvalue()
    text = out.getvalue()
    rows = [line for line in text.splitlines() if re.match(r"\|\s*\d", line)]
    assert "Limit Reached" in text and len(rows) == 1 and "a" in rows[0]
    assert sh.backend.engine.catalog.get_source("ORDERS").topic == "orders_topic"


def test_run_script_substitutes_each_statement(shell, tmp_path):
    sh, out = shell
    script = tmp_path / "script.sql"
    script.write_text("CREATE STREAM ${name} (id INT KEY) WITH (kafka_topic='${name}', partitions=1, value_format='JSON');\n")
    assert sh.run_text(f"DEFINE name = 'from_script'; RUN SCRIPT '{script}';"), out.getvalue()
    assert sh.backend.engine.catalog.get_source("FROM_SCRIPT") is not None


def test_show_and_undefine_variables(shell):
    sh, out = shell
    sh.run_text("DEFINE replicas = '3'; SHOW VARIABLES;")
    assert re.search(r"replicas\s*\|\s*3", out.getvalue(), re.IGNORECASE)
    sh.run_text("UNDEFINE REPLICAS; UNDEFINE replicas;")
    assert re.search("Cannot undefine variable 'replicas' which was never defined", out.getvalue(), re.IGNORECASE)
    assert sh.variables == {}


def test_substitution_can_be_disabled(shell):
    sh, out = shell
    sh.run_text("DEFINE name = 'x'; SET 'ksql.variable.substitution.enable'='false';")
    assert not sh.run_text("CREATE STREAM ${name} (id INT KEY) WITH (kafka_topic='x', partitions=1, value_format='JSON');")


def test_cli_file_and_define(tmp_path):
    script = tmp_path / "vars.sql"
    script.write_text("CREATE STREAM ${name} (id INT KEY, v STRING) WITH (kafka_topic='t', partitions=1, value_format='JSON');\n"
                      "DESCRIBE ${name};\n")
    done = subprocess.run([sys.executable, "-m", "pyksqlite.shell.cli", "repl", "--data-dir", str(tmp_path / "d"),
                           "--define", "name=cli_stream", "-f", str(script)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CLI_STREAM" in done.stdout


def test_engine_substitutes_defines_of_the_same_request(tmp_path):
    engine = Engine(tmp_path / "data", {"ksqlite.log.flush": "none"})
    try:
        engine.execute("DEFINE s = 'in_run'; CREATE STREAM ${s} (id INT KEY) "
                       "WITH (kafka_topic='${s}', partitions=1, value_format='JSON');")
        assert engine.catalog.get_source("IN_RUN").topic == "in_run"
    finally:
        engine.close()
