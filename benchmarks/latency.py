"""End-to-end latency through the REST API: `INSERT INTO ... VALUES` on `/ksql` to the row reaching
a push-query client on `/query-stream`, at a steady insert rate (default 1,000 inserts/s).

    python benchmarks/latency.py [--rate 1000] [--seconds 10] [--batch 1] [--url URL]

Without --url it starts a server on a loopback port over a temporary data directory. Each insert
carries its send time (ms, monotonic clock of this process); the reader subtracts it from the
arrival time. Inserts are paced by a fixed schedule; a row is sent in `--batch` statements per
request (1 = one HTTP request per insert). Prints p50/p90/p99/max and whether p99 < 50 ms.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
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
            due = start + first / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sql = "".join(f"INSERT INTO lat (id, sent) VALUES ({i}, {time.perf_counter() * 1000!r});"
                          for i in range(first, min(total, first + batch)))
            http.post("/ksql", json={"ksql": sql}).raise_for_status()
        achieved = total / (time.perf_counter() - start)
        thread.join(60)
    return {"rows": len(latencies), "sent": total, "achieved_rate": round(achieved, 1),
            "p50_ms": round(percentile(latencies, 50), 2), "p90_ms": round(percentile(latencies, 90), 2),
            "p99_ms": round(percentile(latencies, 99), 2), "max_ms": round(max(latencies), 2),
            "mean_ms": round(statistics.mean(latencies), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=1, help="INSERT statements per request")
    parser.add_argument("--url", help="an already running server")
    args = parser.parse_args()
    if args.url:
        result = run(args.url, args.rate, args.seconds, args.batch)
    else:
        from engine.engine import Engine
        from shell.server import ServerThread
        with tempfile.TemporaryDirectory(prefix="ksqlite-latency-") as data:
            engine = Engine(data, properties={"ksqlite.log.flush": "none"})
            try:
                with ServerThread(engine, port=0) as server:
                    result = run(server.url, args.rate, args.seconds, args.batch)
            finally:
                engine.close()
    result["target_p99_lt_50ms"] = result["p99_ms"] < 50
    print(json.dumps(result))
    return 0 if result["target_p99_lt_50ms"] else 1


if __name__ == "__main__":
    sys.exit(main())
