"""The REPL in a real terminal (pexpect drives a pty): CREATE STREAM, INSERT, a push query whose
rows arrive live, Ctrl-C cancels the query, and the prompt is back."""
from __future__ import annotations

import os
import sys
import time

import httpx
import pytest

pexpect = pytest.importorskip("pexpect")

from tests.shell.conftest import ksql  # noqa: E402

PROMPT = "ksql>"  # prompt-toolkit draws the space as a cursor move


def spawn(args, tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "TERM": "xterm", "KSQLITE_HISTORY": str(tmp_path / "history")}
    child = pexpect.spawn(sys.executable, ["-m", "pyksqlite.shell.cli", *args], env=env, encoding="utf-8",
                          timeout=30, dimensions=(40, 160), cwd=os.getcwd())
    child.expect_exact(PROMPT)
    return child


def send_statement(child, text):
    child.send(text + "\r")


def test_repl_push_query_live_rows_and_ctrl_c(server, tmp_path):
    child = spawn(["repl", "--server", server.url], tmp_path)
    try:
        # a statement over two lines: Enter before the `;` continues it
        child.send("CREATE STREAM clicks (id INT KEY, page STRING)\r")
        send_statement(child, "WITH (kafka_topic='clicks', partitions=1, value_format='JSON');")
        child.expect_exact("Stream created")
        child.expect_exact(PROMPT)
        send_statement(child, "INSERT INTO clicks (id, page) VALUES (1, 'home');")
        child.expect_exact("Inserted 1 row")
        child.expect_exact(PROMPT)
        send_statement(child, "SELECT id, page FROM clicks EMIT CHANGES;")
        child.expect("\\|PAGE +\\|")
        time.sleep(0.5)
        with httpx.Client(base_url=server.url) as http:
            ksql(http, "INSERT INTO clicks (id, page) VALUES (2, 'live-row');")
        child.expect("\\|2 +\\|live-row")
        child.sendintr()
        child.expect_exact("Query terminated")
        child.expect_exact(PROMPT)
        send_statement(child, "SHOW STREAMS;")
        child.expect("CLICKS +\\| clicks")
        child.expect_exact(PROMPT)
        send_statement(child, "SELECT * FROMM clicks;")
        child.expect_exact("Syntax Error")
        child.expect_exact("^")
        child.expect_exact(PROMPT)
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert "SHOW STREAMS;" in (tmp_path / "history").read_text()


def test_repl_embedded_engine_noninteractive(tmp_path):
    script = tmp_path / "script.sql"
    script.write_text("CREATE STREAM s (id INT KEY, v STRING) WITH (kafka_topic='s', partitions=1, value_format='JSON');\n"
                      "INSERT INTO s (id, v) VALUES (1, 'a');\n")
    env = {**os.environ, "HOME": str(tmp_path)}
    out = pexpect.run(f"{sys.executable} -m pyksqlite.shell.cli --data-dir {tmp_path / 'd'} -e "
                      f"\"RUN SCRIPT '{script}'; SET 'auto.offset.reset'='earliest'; "
                      "SELECT * FROM s EMIT CHANGES LIMIT 1;\"", env=env, encoding="utf-8", timeout=60)
    assert "Stream created" in out and "|1" in out and "Limit Reached" in out
