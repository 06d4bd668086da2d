"""Fuzzing the REST API of one real `ksqlite serve` subprocess (loopback port, own data dir).

Thousands of mutated ksqlDB statements and malformed requests (tests/security/fuzz_inputs.py) are
sent for about a minute; for every response:
- no 5xx, and a status within 10 s;
- no internal text: tracebacks, Python reprs and exception names, DuckDB SQL and its error
  kinds, internal column names, file paths (unless the request itself holds that text);
- nothing of the canary, a file outside the data dir the inputs aim at.
At the end the server is alive and healthy, and the canary (content and mtime) and the trap
directory next to it are untouched.

Seeded: `KSQLITE_FUZZ_SEED` replays a run (its seed is printed and named in any failure).
`KSQLITE_FUZZ_INPUTS` (default 6000), `KSQLITE_FUZZ_SECONDS` (default 60) and
`KSQLITE_FUZZ_WORKERS` (default 8 concurrent requests; 1 replays in order) tune it;
"""
from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import os
import random
import re
import secrets
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest

from tests.security import fuzz_inputs as fz

# httpcore asks for sniffio, when it is not installed, at every connection lock it makes: each
# failed import searches sys.path again (a third of the fuzzer's CPU). None makes it fail at once.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)

SEED = int(os.environ.get("KSQLITE_FUZZ_SEED") or random.SystemRandom().randrange(2 ** 32))
INPUTS = int(os.environ.get("KSQLITE_FUZZ_INPUTS", "6000"))
SECONDS = float(os.environ.get("KSQLITE_FUZZ_SECONDS", "60"))
WORKERS = int(os.environ.get("KSQLITE_FUZZ_WORKERS", "8"))
MAX_RESPONSE_SECONDS = 10.0
STREAM_READ_SECONDS = 0.3          # a push query's body is read this long, then abandoned
ROUND = 300                        # inputs between clean-ups of the server's queries and sources
KEPT_FINDINGS = 50

INTERNAL_TEXT = [
    ("a traceback", re.compile(r"Traceback \(most recent call last\)")),
    ("a Python source line", re.compile(r'File "[^"]*", line \d+')),
    ("a Python repr", re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>|\bDecimal\('|\bdatetime\.\w+\(|\bb'\\x")),
    ("a Python exception", re.compile(r"\b(?:KeyError|TypeError|AttributeError|IndexError|ValueError|"
                                      r"RecursionError|NameError|AssertionError|ZeroDivisionError|OverflowError|"
                                      r"UnicodeDecodeError|ArrowInvalid|ArrowTypeError|ArrowNotImplementedError|"
                                      r"VisitError|JSONDecodeError)\b")),
    ("DuckDB SQL", re.compile(r"struct_extract|list_transform|list_extract|regexp_matches|json_extract|"
                              r"\bTRY\(|TRY_CAST|::VARCHAR|Binder Error|Parser Error|Catalog Error|"
                              r"Conversion Error|Invalid Input Error|Out of Range Error|"
                              r"Not implemented Error|\bduckdb\b", re.IGNORECASE)),
    ("an internal name", re.compile(r'__rowtime|__lambda_|"[kv]\d+"|\b_ksqlite_')),
    ("a source path", re.compile(r"/site-packages/|\b\w+\.py\b")),      # linear: one start per word
]


@dataclasses.dataclass
class Finding:
    reason: str
    request: str
    excerpt: str = ""

    def __str__(self) -> str:
        return f"{self.reason}\n    input: {self.request}\n    response: {self.excerpt!r}"


@dataclasses.dataclass
class FuzzServer:
    url: str
    process: subprocess.Popen
    root: Path
    data: Path
    canary: Path
    trap: Path
    secret: str
    log: Path


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory) -> Iterator[FuzzServer]:
    root = tmp_path_factory.mktemp("fuzz")
    outside, data, workdir = root / "outside", root / "data", root / "cwd"
    trap = outside / "trap"
    for directory in (outside, trap, workdir):
        directory.mkdir()
    secret = "CANARY-" + secrets.token_hex(16)
    canary = outside / "canary.txt"
    canary.write_text(secret + "\n")
    log = root / "server.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fz.ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "pyksqlite.shell.cli", "serve", "--port", "0", "--data-dir", str(data)],
                               cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    line = process.stdout.readline()
    match = re.search(r"http://[\w.:\[\]]+", line)
    if match is None:
        process.kill()
        pytest.fail(f"the server did not start: {line!r}\n{log.read_text()[-3000:]}")
    server = FuzzServer(match.group(0), process, root, data, canary, trap, secret, log)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def inputs(rng: random.Random, fuzzer: fz.StatementFuzzer, count: int) -> Iterator[fz.FuzzInput]:
    for _ in range(count):
        draw = rng.random()
        if draw < 0.40:
            yield fz.statement_request(rng, fuzzer.mutated())
        elif draw < 0.50:
            script, queries = fuzzer.case()
            yield fz.statement_request(rng, script, endpoint="/ksql")
            for query in queries[:2]:
                yield fz.statement_request(rng, query)
        elif draw < 0.60:
            yield fz.statement_request(rng, fuzzer.statement())
        elif draw < 0.80:
            yield fz.malformed_request(rng, fuzzer)
        elif draw < 0.88:
            yield fz.statement_request(rng, fz.direct_attack(rng, fuzzer))
            if rng.random() < 0.1:
                script, query = fz.struct_field_injection(fuzzer)
                yield fz.statement_request(rng, script, endpoint="/ksql")
                yield fz.statement_request(rng, query)
        elif draw < 0.95:
            parts = fz.tokens(fuzzer.statement())
            mutate = rng.choice((fuzzer._deep, fuzzer._huge_list))
            yield fz.statement_request(rng, fz.join(mutate(parts) or parts)[:fz.MAX_STATEMENT])
        else:
            yield fz.inserts_request(rng, fuzzer)


class Checker:
    """What each response must not be or hold."""

    def __init__(self, server: FuzzServer):
        self.server = server
        self.literals = [(f"the {what}", text) for what, text in (
            ("canary's content", server.secret), ("data dir path", str(server.data)),
            ("test dir path", str(server.root)))]
        self.findings: list[Finding] = []      # the first KEPT_FINDINGS, in full
        self.reasons: Counter = Counter()      # every finding, by reason
        self.statuses: dict[int, int] = {}
        self.seconds: Counter = Counter()      # per input label: time spent
        self.counts: Counter = Counter()

    def check(self, item: fz.FuzzInput, status: Optional[int], seconds: float, body: bytes,
              error: Optional[str] = None) -> None:
        text = body.decode("utf-8", "replace")
        sent = item.body.decode("utf-8", "replace") + item.path
        if error is not None:
            self._found(error, item, text)
            return
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500:
            self._found(f"HTTP {status}", item, text)
        if seconds > MAX_RESPONSE_SECONDS:
            self._found(f"answered after {seconds:.1f} s", item, text)
        # The canary's and the trap's paths are strings the inputs themselves write into streams,
        # so a later query may echo them as data; any other path under the test dir is a leak.
        scrubbed = text.replace(str(self.server.canary), "").replace(str(self.server.trap), "")
        for what, literal in self.literals:
            seen = text if literal == self.server.secret else scrubbed
            if literal in seen and (literal == self.server.secret or literal not in sent):
                self._found(f"the response holds {what}", item, _around(text, text.index(literal)))
        for what, pattern in INTERNAL_TEXT:
            for match in pattern.finditer(text):
                if match.group(0).lower() not in sent.lower():   # an echo of the input (names are upper-cased)
                    self._found(f"the response holds {what}: {match.group(0)!r}", item,
                                _around(text, match.start()))
                    break

    def _found(self, reason: str, item: fz.FuzzInput, excerpt: str) -> None:
        self.reasons[reason[:80]] += 1
        if len(self.findings) < KEPT_FINDINGS:
            self.findings.append(Finding(reason, item.describe(), excerpt[:600]))


def _around(text: str, at: int) -> str:
    return text[max(0, at - 200):at + 300]


async def send(client: httpx.AsyncClient, item: fz.FuzzInput, checker: Checker) -> None:
    started = time.monotonic()
    checker.counts[item.label] += 1
    try:
        request = client.build_request(item.method, item.path, content=item.body, headers=item.headers)
        response = await asyncio.wait_for(client.send(request, stream=True), MAX_RESPONSE_SECONDS + 2)
    except asyncio.TimeoutError:
        checker.check(item, None, MAX_RESPONSE_SECONDS, b"", f"no answer within {MAX_RESPONSE_SECONDS:g} s")
        return
    except httpx.HTTPError as error:
        checker.check(item, None, 0, b"", f"the connection failed: {type(error).__name__}: {error}")
        return
    seconds = time.monotonic() - started
    chunks: list[bytes] = []

    async def read() -> None:
        size = 0
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size > 512 * 1024:
                return
    try:
        await asyncio.wait_for(read(), STREAM_READ_SECONDS)
    except (asyncio.TimeoutError, httpx.HTTPError):
        pass                           # a push query goes on: we leave (the server must stop it)
    finally:
        await response.aclose()
    checker.check(item, response.status_code, seconds, b"".join(chunks))
    checker.seconds[item.label] += time.monotonic() - started


async def run_round(server: FuzzServer, batch: list[fz.FuzzInput], checker: Checker, deadline: float) -> int:
    timeout = httpx.Timeout(MAX_RESPONSE_SECONDS + 2)
    ran = 0
    async with httpx.AsyncClient(base_url=server.url, timeout=timeout) as http1, \
            httpx.AsyncClient(base_url=server.url, timeout=timeout, http1=False, http2=True) as http2:
        queue = list(reversed(batch))

        async def worker() -> None:
            nonlocal ran
            while queue and time.monotonic() < deadline:
                item = queue.pop()
                await send(http2 if item.http2 else http1, item, checker)
                ran += 1
        await asyncio.gather(*(worker() for _ in range(max(1, WORKERS))))
    return ran


def reset(server: FuzzServer) -> None:
    """End the queries and drop the sources the last round made; create the base sources again
    (as a client would: over REST)."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/ksql", json={"ksql": "TERMINATE ALL;"})
        listed = http.post("/ksql", json={"ksql": "SHOW STREAMS; SHOW TABLES;"})
        if listed.status_code == 200:
            for entity in listed.json():
                for source in entity.get("streams", []) + entity.get("tables", []):
                    kind = "STREAM" if source["type"] == "STREAM" else "TABLE"
                    name = source["name"].replace("`", "``")
                    http.post("/ksql", json={"ksql": f"DROP {kind} IF EXISTS `{name}` DELETE TOPIC;"})
        for statement in fz.BASE_SOURCES:
            http.post("/ksql", json={"ksql": statement})


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def test_the_rest_api_survives_fuzzing(fuzz_server):
    server = fuzz_server
    print(f"\nfuzz seed {SEED} (KSQLITE_FUZZ_SEED={SEED} replays it)")
    canary_before = (server.canary.read_bytes(), server.canary.stat().st_mtime_ns)
    rng = random.Random(SEED)
    fuzzer = fz.StatementFuzzer(rng, fz.corpus_cases(), server.canary, server.trap)
    pending = inputs(rng, fuzzer, INPUTS)
    checker = Checker(server)
    started = time.monotonic()
    deadline = started + SECONDS
    ran = 0
    while time.monotonic() < deadline:
        batch = [item for _, item in zip(range(ROUND), pending)]
        if not batch:
            break
        reset(server)
        ran += asyncio.run(run_round(server, batch, checker, deadline))
    elapsed = time.monotonic() - started
    print(f"fuzz: {ran} inputs in {elapsed:.0f} s, statuses {dict(sorted(checker.statuses.items()))}, "
          f"{sum(checker.reasons.values())} findings; CPU: server {_cpu_seconds(server.process.pid):.0f} s, "
          f"fuzzer {time.process_time():.0f} s")
    print("  time per kind:", ", ".join(f"{label} {checker.counts[label]}x{seconds / checker.counts[label] * 1000:.0f}ms"
                                        for label, seconds in checker.seconds.most_common()))
    for reason, count in checker.reasons.most_common():
        print(f"  {count:5d}  {reason}")

    alive = server.process.poll() is None
    healthy = alive and httpx.get(server.url + "/healthcheck", timeout=10).status_code == 200
    problems = [str(f) for f in checker.findings[:15]]
    if not alive or not healthy:
        problems.append("the server is not alive and healthy at the end")
    if (server.canary.read_bytes(), server.canary.stat().st_mtime_ns) != canary_before:
        problems.append("the canary file was written")
    if any(server.trap.iterdir()):
        problems.append(f"files appeared outside the data dir: {sorted(p.name for p in server.trap.iterdir())}")
    assert not problems, (f"fuzz seed {SEED}: {sum(checker.reasons.values())} findings in {ran} inputs\n"
                          + "\n".join(problems) + "\n--- server log (end) ---\n"
                          + server.log.read_text(errors="replace")[-4000:])
    assert ran > 0
