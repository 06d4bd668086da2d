"""End-to-end latency through the REST API: `INSERT INTO ... VALUES` on `/ksql` to the row reaching
a push-query client on `/query-stream`, at a steady insert rate (default 1,000 inserts/s).

    python benchmarks/latency.py [--rate 1000] [--seconds 10] [--batch 10] [--url URL] [--in-process]

Without --url it starts a server on a loopback port over a temporary data directory, in a child
process (as a real server is: the client's threads do not compete with it for the GIL), or in this
process with --in-process. Each row is due at a fixed schedule (row i at start + i/rate) and
carries its due time (ms, monotonic clock of this process); the reader subtracts it from the
arrival time. A request carries `--batch` INSERT statements, sent when its last row is due, so
the wait of the first rows for the rest of their batch is part of their latency, as is any lag
of the sender behind the schedule. Prints p50/p90/p99/max and whether p99 < 50 ms.

One HTTP request per insert (`--batch 1`) costs the server about 2-4 ms of one core (HTTP, the
one-row append), which caps it below 1,000 requests/s; clients that insert at that rate put many
statements in one /ksql request, as ksqlDB's clients do, so the default is 10 (one request every
10 ms at 1,000 rows/s).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

DDL = ("CREATE STREAM lat (id BIGINT KEY, sent DOUBLE) "
       "WITH (kafka_topic='lat', partitions=1, value_format='JSON');")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(url: str, rate: float, seconds: float, batch: int) -> dict:
    with httpx.Client(base_url=url, timeout=30) as http:
        http.post("/ksql", json={"ksql": DDL}).raise_for_status()
        total = int(rate * seconds)
        latencies: list[float] = []
        ready = threading.Event()

        def reader() -> None:
            with httpx.Client(base_url=url, timeout=httpx.Timeout(30, read=None)) as client:
                with client.stream("POST", "/query-stream",
                                   json={"sql": f"SELECT id, sent FROM lat EMIT CHANGES LIMIT {total};"}) as stream:
                    lines = stream.iter_lines()
                    next(lines)
                    ready.set()
                    for line in lines:
                        if line:
                            _, sent = json.loads(line)
                            latencies.append(time.perf_counter() * 1000 - sent)

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        ready.wait(30)
        time.sleep(0.3)
        start = time.perf_counter()
        for first in range(0, total, batch):
            rows = range(first, min(total, first + batch))
            pause = start + rows[-1] / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sql = "".join(f"INSERT INTO lat (id, sent) VALUES ({i}, {(start + i / rate) * 1000!r});"
                          for i in rows)
            http.post("/ksql", json={"ksql": sql}).raise_for_status()
        achieved = total / (time.perf_counter() - start)
        thread.join(60)
    return {"rows": len(latencies), "sent": total, "batch": batch, "achieved_rate": round(achieved, 1),
            "p50_ms": round(percentile(latencies, 50), 2), "p90_ms": round(percentile(latencies, 90), 2),
            "p99_ms": round(percentile(latencies, 99), 2), "max_ms": round(max(latencies), 2),
            "mean_ms": round(statistics.mean(latencies), 2)}


def start_server(data: str):
    from pyksqlite.facade.engine import Engine
    from pyksqlite.shell.server import ServerThread
    engine = Engine(data, properties={"ksqlite.log.flush": "none"})
    return engine, ServerThread(engine, port=0).start()


@contextmanager
def in_process_server(data: str):
    engine, server = start_server(data)
    try:
        yield server.url
    finally:
        server.stop()
        engine.close()


def serve(data: str) -> int:
    """The child process: serve until stdin closes, then print the CPU time it used."""
    engine, server = start_server(data)
    cpu_at_start = time.process_time()
    print(server.url, flush=True)
    sys.stdin.read()
    print(time.process_time() - cpu_at_start, flush=True)
    server.stop()
    engine.close()
    os._exit(0)  # skip the interpreter's teardown of the per-thread DuckDB connections


@contextmanager
def child_server(data: str, usage: dict):
    """A server in a child process; `usage["server_cpu_s"]` is the CPU time it used."""
    child = subprocess.Popen([sys.executable, __file__, "--serve", data],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield child.stdout.readline().strip()
    finally:
        child.stdin.close()
        usage["server_cpu_s"] = float(child.stdout.readline() or "nan")
        child.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=10, help="INSERT statements per request")
    parser.add_argument("--url", help="an already running server")
    parser.add_argument("--in-process", action="store_true", help="run the server in this process")
    parser.add_argument("--serve", metavar="DATA_DIR", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    if args.url:
        result = run(args.url, args.rate, args.seconds, args.batch)
    else:
        usage: dict = {}
        with tempfile.TemporaryDirectory(prefix="ksqlite-latency-") as data:
            with (in_process_server(data) if args.in_process else child_server(data, usage)) as url:
                result = run(url, args.rate, args.seconds, args.batch)
        if "server_cpu_s" in usage:
            result["server_cpu_ms_per_row"] = round(usage["server_cpu_s"] * 1000 / result["sent"], 3)
    result["target_p99_lt_50ms"] = result["p99_ms"] < 50
    print(json.dumps(result))
    return 0 if result["target_p99_lt_50ms"] else 1


if __name__ == "__main__":
    sys.exit(main())
