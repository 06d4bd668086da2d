"""One process at a time has a log directory: a second one gets an error naming the first.

Two processes appending to one directory would each index the segments on their own and
overwrite each other's records, so the second is refused (with real processes here), and a
holder killed with SIGKILL leaves no stale lock.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.log import EmbeddedLog
from pyksqlite.log.api import LogLockedError
from pyksqlite.shell.cli import build_parser

HOLD_LOG = """
import sys, time
from pyksqlite.log import EmbeddedLog
log = EmbeddedLog(sys.argv[1])
print("holding", flush=True)
time.sleep(120)
"""

OPEN_LOG = """
import sys
from pyksqlite.log import EmbeddedLog
from pyksqlite.log.api import LogLockedError
try:
    EmbeddedLog(sys.argv[1]).close()
    print("opened")
except LogLockedError as error:
    print(error)
"""


def python(*args, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen([sys.executable, *args], env=env, text=True, **kwargs)


def run_python(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, *args], env=env, text=True, capture_output=True, timeout=120)


@pytest.fixture
def holder(tmp_path):
    process = python("-c", HOLD_LOG, str(tmp_path), stdout=subprocess.PIPE)
    assert process.stdout.readline().strip() == "holding"
    yield process
    process.kill()
    process.wait()


def test_a_second_process_is_refused_with_the_holders_pid_and_command(tmp_path, holder):
    answer = run_python("-c", OPEN_LOG, str(tmp_path)).stdout
    assert f"is in use by process {holder.pid} ({sys.executable} -c" in answer
    with pytest.raises(LogLockedError, match=f"process {holder.pid}"):
        EmbeddedLog(tmp_path)  # this process too


def test_a_holder_killed_with_sigkill_leaves_no_stale_lock(tmp_path, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert run_python("-c", OPEN_LOG, str(tmp_path)).stdout.strip() == "opened"


def test_a_second_log_object_in_one_process_is_refused_until_the_first_closes(tmp_path):
    first = EmbeddedLog(tmp_path)
    with pytest.raises(LogLockedError, match=f"process {os.getpid()}"):
        EmbeddedLog(tmp_path)
    first.close()
    EmbeddedLog(tmp_path).close()


SCRIPT = ("CREATE STREAM s (id INT KEY, v STRING) WITH (kafka_topic='s', partitions=1, value_format='JSON');\n")


def test_an_insert_from_a_second_ksqlite_is_refused_not_lost(tmp_path):
    script = tmp_path / "setup.sql"
    script.write_text(SCRIPT)
    data = tmp_path / "data"
    running = python("-m", "pyksqlite.shell.cli", "run", str(script), "--data-dir", str(data), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while "running" not in running.stderr.readline():
            assert time.monotonic() < deadline
        second = run_python("-m", "pyksqlite.shell.cli", "--data-dir", str(data), "-e", "INSERT INTO s (id, v) VALUES (1, 'a');")
        assert second.returncode == 1
        assert "Inserted" not in second.stdout
        assert f"in use by process {running.pid}" in second.stderr and "shell.cli run" in second.stderr
    finally:
        running.send_signal(signal.SIGINT)
        running.wait(timeout=60)
    again = run_python("-m", "pyksqlite.shell.cli", "--data-dir", str(data), "-e", "INSERT INTO s (id, v) VALUES (2, 'b');")
    assert again.returncode == 0, again.stderr
    engine = Engine(data)
    assert [r.key for r in engine.read_topic_records("s")] == [2]
    engine.close()


def test_the_repl_and_the_server_default_to_different_data_directories(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    repl = build_parser().parse_args(["repl"]).data_dir
    server = build_parser().parse_args(["serve"]).data_dir
    assert repl != server
    assert repl == str(tmp_path / "ksqlite" / "repl") and server == str(tmp_path / "ksqlite" / "server")
