"""`ksqlite serve` as a real process: safe defaults when it starts, and stopping on a signal within
5 s whatever is running; the REPL's --server mode passes credentials as ksqlDB's CLI does."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SLOW_UDF = '''
import time
from pathlib import Path
from pyksqlite.udf import udf

@udf(params=["INTEGER"], returns="INTEGER", per_row=True, description="Waits `value` seconds.")
def slow_down(value):
    Path(__file__).with_name("entered").write_text("yes")
    time.sleep(value)
    return value
'''


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def start(tmp_path, *args: str) -> tuple[subprocess.Popen, str]:
    """A server process and its URL (from the line it prints once listening)."""
    log = tmp_path / "server.log"
    process = subprocess.Popen([sys.executable, "-m", "pyksqlite.shell.cli", "serve", "--port", "0",
                                "--data-dir", str(tmp_path / "data"), *args],
                               env=_env(), stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    process.log = log
    line = process.stdout.readline()
    match = re.search(r"http://\S+", line)
    if match is None:
        process.kill()
        pytest.fail(f"no listening line: {line!r} {log.read_text()}")
    return process, match.group(0)


def refused(tmp_path, *args: str) -> str:
    """The one line a server that refuses to start prints; it exits with status 2."""
    process = subprocess.run([sys.executable, "-m", "pyksqlite.shell.cli", "serve", "--port", "0",
                              "--data-dir", str(tmp_path / "data"), *args],
                             env=_env(), capture_output=True, text=True, timeout=60)
    assert process.returncode == 2 and process.stdout == ""
    assert len(process.stderr.strip().splitlines()) == 1
    return process.stderr


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _listening_addresses(port: int) -> set[str]:
    """The local addresses listening on `port`, from the kernel's socket tables."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state == "0A":
                addresses.add(address)
    return addresses


def test_it_listens_on_loopback_only_by_default(tmp_path):
    process, url = start(tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
        if Path("/proc/net/tcp").exists():
            assert _listening_addresses(port) == {"0100007F"}      # 127.0.0.1, nothing else
        assert httpx.get(url + "/info").status_code == 200
    finally:
        stop(process)


def test_another_address_without_authentication_is_refused(tmp_path):
    line = refused(tmp_path, "--host", "0.0.0.0")
    assert "refusing to listen on 0.0.0.0 without authentication" in line
    assert "--auth-file" in line and "--insecure" in line
    assert "refusing" in refused(tmp_path, "--host", "::")


def test_insecure_or_an_auth_file_allows_another_address(tmp_path):
    process, url = start(tmp_path, "--host", "0.0.0.0", "--insecure")
    stop(process)
    passwords = tmp_path / "passwords"
    passwords.write_text("alice: secret\n")
    process, url = start(tmp_path, "--host", "0.0.0.0", "--auth-file", str(passwords))
    try:
        local = url.replace("0.0.0.0", "127.0.0.1")
        assert httpx.get(local + "/info").status_code == 401
        assert httpx.get(local + "/info", auth=("alice", "secret")).status_code == 200
    finally:
        stop(process)


def test_bad_settings_are_one_line(tmp_path):
    passwords = tmp_path / "passwords"
    passwords.write_text("alice: CRYPT:xyz\n")
    assert "CRYPT" in refused(tmp_path, "--auth-file", str(passwords))
    assert "needs --auth-file" in refused(tmp_path, "-p", "authentication.method=BASIC")
    assert "ksqlite.limits.expression.depth" in refused(tmp_path, "-p", "ksqlite.limits.expression.depth=deep")
    assert "request.bytes" in refused(tmp_path, "-p", "ksqlite.limits.request.bytes=0")


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_within_five_seconds_whatever_runs(tmp_path, signal_number):
    udfs = _with_slow_udf(tmp_path)
    process, url = start(tmp_path, "-p", f"ksql.extension.dir={udfs}")
    try:
        created = httpx.post(url + "/ksql", timeout=30, json={"ksql": (
            "CREATE STREAM s (id INT KEY, x INT) WITH (kafka_topic='s', partitions=1, value_format='JSON');"
            "INSERT INTO s (id, x) VALUES (1, 2);")})
        assert created.status_code == 200
        push_open = threading.Event()

        def push() -> None:       # a push query that never ends
            try:
                with httpx.stream("POST", url + "/query", json={"ksql": "SELECT * FROM s EMIT CHANGES;"},
                                  timeout=60) as response:
                    push_open.set()
                    for _ in response.iter_lines():
                        pass
            except httpx.HTTPError:
                pass

        def pull() -> None:       # a statement that runs for a minute in a worker thread
            try:
                httpx.post(url + "/query", json={"ksql": "SELECT SLOW_DOWN(x * 30) FROM s;"}, timeout=60)
            except httpx.HTTPError:
                pass

        threading.Thread(target=push, daemon=True).start()
        assert push_open.wait(30)
        threading.Thread(target=pull, daemon=True).start()   # (it holds the engine's lock)
        deadline = time.monotonic() + 30
        while not (udfs / "entered").exists():
            assert time.monotonic() < deadline, "the slow statement never started"
            time.sleep(0.05)
        process.send_signal(signal_number)
        assert process.wait(5) == 0
    finally:
        stop(process)


def _logged(process, containing: str, seconds: float = 60) -> str:
    """The first line of the server's log holding `containing`, once it is written ('' if it is
    not within `seconds`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in process.log.read_text().splitlines():
            if containing in line:
                return line
        time.sleep(0.05)
    return ""


def _with_slow_udf(tmp_path) -> Path:
    udfs = tmp_path / "udfs"
    udfs.mkdir()
    (udfs / "slow.py").write_text(SLOW_UDF)
    return udfs


def test_the_statements_after_a_client_leaves_are_not_run(tmp_path):
    process, url = start(tmp_path, "-p", f"ksql.extension.dir={_with_slow_udf(tmp_path)}")
    try:
        httpx.post(url + "/ksql", timeout=30, json={"ksql": (
            "CREATE STREAM s (id INT KEY, x INT) WITH (kafka_topic='s', partitions=1, value_format='JSON');")})
        script = ("INSERT INTO s (id, x) VALUES (1, SLOW_DOWN(3));" + "SHOW STREAMS;" * 300 +
                  "CREATE STREAM later (id INT KEY) WITH (kafka_topic='later', partitions=1, value_format='JSON');")
        with pytest.raises(httpx.ReadTimeout):          # the client gives up while the INSERT runs
            httpx.post(url + "/ksql", json={"ksql": script}, timeout=httpx.Timeout(30, read=1))
        assert _logged(process, "statements not run")
        streams = httpx.post(url + "/ksql", json={"ksql": "SHOW STREAMS;"}, timeout=30).json()[0]["streams"]
        assert [s["name"] for s in streams] == ["S"]
    finally:
        stop(process)


def test_the_repl_passes_credentials_like_ksqldbs_cli(tmp_path):
    passwords = tmp_path / "passwords"
    passwords.write_text("alice: secret\n")
    process, url = start(tmp_path, "--auth-file", str(passwords))

    def repl(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pyksqlite.shell.cli", url, *args, "-e", "SHOW STREAMS;"],
                              env=_env(), input=stdin, capture_output=True, text=True, timeout=60)
    try:
        ok = repl("-u", "alice", "-p", "secret")
        assert ok.returncode == 0, ok.stderr
        prompted = repl("-u", "alice", stdin="secret\n")          # no -p: the password is asked for
        assert prompted.returncode == 0, prompted.stderr
        missing = repl()
        assert missing.returncode == 1 and "requires a user and password" in missing.stderr
        wrong = repl("--user", "alice", "--password", "nope")
        assert wrong.returncode == 1 and "refused" in wrong.stderr
        assert "Traceback" not in missing.stderr + wrong.stderr
    finally:
        stop(process)
