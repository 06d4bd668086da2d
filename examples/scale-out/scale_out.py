"""Scale-out on Apache Kafka: the same SQL run by 1, 2 and 3 ksqlite processes as one service.

    python examples/scale-out/scale_out.py --bootstrap-servers HOST:PORT [--events 1000000]

Per run, N `ksqlite serve` processes start with the same `ksql.service.id` and
`processing.guarantee=exactly_once_v2`. The statements go to the first one over the REST API;
the others pick them up from the service's command topic, and the four partitions of every
query are split between the processes' consumers. The queries:

- a stream-table join: every bid enriched with its auction's seller and category;
- a windowed aggregation: bids per auction per minute (TUMBLING), count, sum and max.

The auctions table is loaded first; then the bids are produced and the time until both queries
have committed all of their input gives the throughput. In the run with the most processes, one
process is killed with SIGKILL halfway: its partitions (and their state, from the changelog
topic) move to the others. Every run's committed outputs (read as a read_committed consumer)
must equal a single-process run on the embedded log: the join's records as a multiset (so no
duplicate and no loss) and the aggregation's latest value per windowed key. The last line is
`scale-out: OK`, or says what differed.
"""
from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pyksqlite.facade.engine import Engine  # noqa: E402
from pyksqlite.log.api import HEADER_TYPE, PRODUCE_SCHEMA, TopicConfig  # noqa: E402
from pyksqlite.log.kafka.log import KafkaLog  # noqa: E402

PARTITIONS = 4
AUCTIONS = 1000
START_MS = 1_700_000_000_000
HOUR_MS = 3_600_000
CHUNK = 100_000


def statements(tag: str) -> str:
    return f"""
CREATE TABLE auctions (id BIGINT PRIMARY KEY, seller STRING, category INT)
  WITH (kafka_topic='auctions_{tag}', value_format='JSON');
CREATE STREAM bids (auction BIGINT KEY, bidder BIGINT, price BIGINT, date_time BIGINT)
  WITH (kafka_topic='bids_{tag}', value_format='JSON', timestamp='date_time');
CREATE STREAM enriched WITH (kafka_topic='enriched_{tag}') AS
  SELECT b.auction, b.bidder, b.price, a.seller, a.category FROM bids b JOIN auctions a ON b.auction = a.id;
CREATE TABLE per_minute WITH (kafka_topic='per_minute_{tag}') AS
  SELECT auction, COUNT(*) AS n, SUM(price) AS total, MAX(price) AS top
  FROM bids WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY auction EMIT CHANGES;
"""


# --- data -----------------------------------------------------------------------------------------

def big_endian_keys(numbers: np.ndarray) -> pa.Array:
    raw = np.ascontiguousarray(numbers, dtype=">i8").tobytes()
    return pa.Array.from_buffers(pa.binary(8), len(numbers), [None, pa.py_buffer(raw)]).cast(pa.binary())


def records(keys: np.ndarray, values: pa.Array, timestamps: np.ndarray) -> pa.Table:
    return pa.table([big_endian_keys(keys), values.cast(pa.binary()), pa.array(timestamps, pa.int64()),
                     pa.nulls(len(keys), HEADER_TYPE)], schema=PRODUCE_SCHEMA)


def auction_records() -> pa.Table:
    ids = np.arange(1000, 1000 + AUCTIONS, dtype=np.int64)
    text = pc.cast(pa.array(ids), pa.string())
    values = pc.binary_join_element_wise('{"SELLER":"seller-', text, '","CATEGORY":',
                                         pc.cast(pa.array(ids % 10), pa.string()), "}", "")
    return records(ids, values, np.zeros(AUCTIONS, dtype=np.int64))


def bid_records(events: int) -> pa.Table:
    rng = np.random.default_rng(7)
    auction = rng.integers(1000, 1000 + AUCTIONS, size=events, dtype=np.int64)
    bidder = rng.integers(1, 1001, size=events, dtype=np.int64)
    price = rng.integers(1, 100_000, size=events, dtype=np.int64)
    date_time = START_MS + (np.arange(events, dtype=np.int64) * HOUR_MS) // events
    text = lambda column: pc.cast(pa.array(column), pa.string())
    values = pc.binary_join_element_wise('{"BIDDER":', text(bidder), ',"PRICE":', text(price),
                                         ',"DATE_TIME":', text(date_time), "}", "")
    return records(auction, values, date_time)


def append(log, topic: str, table: pa.Table) -> None:
    for start in range(0, table.num_rows, CHUNK):
        log.append(topic, table.slice(start, CHUNK))
    log.flush()


# --- the reference: one process, embedded log -------------------------------------------------------

def embedded_reference(auctions: pa.Table, bids: pa.Table) -> dict:
    with tempfile.TemporaryDirectory(prefix="scale-out-ref-") as data_dir:
        engine = Engine(data_dir, {"ksql.streams.auto.offset.reset": "earliest"})
        try:
            for name, table in (("auctions_ref", auctions), ("bids_ref", bids)):
                engine.log.create_topic(name, TopicConfig(partitions=PARTITIONS))
                append(engine.log, name, table)
            started = time.perf_counter()
            engine.execute(statements("ref"))
            engine.run_until_idle()
            seconds = time.perf_counter() - started
            return {"enriched": raw_records(engine.log, "enriched_ref"),
                    "per_minute": raw_records(engine.log, "per_minute_ref"), "seconds": seconds}
        finally:
            engine.close()


def raw_records(log, topic: str) -> list[tuple[bytes, bytes]]:
    out = []
    for partition, end in enumerate(log.end_offsets(topic)):
        offset = log.start_offsets(topic)[partition]
        while offset < end:
            batch = log.read(topic, partition, offset)
            if batch.num_rows == 0:
                break
            out.extend(zip(batch.column("key").to_pylist(), batch.column("value").to_pylist()))
            offset = batch.column("offset")[-1].as_py() + 1
    return out


# --- a run on Kafka ---------------------------------------------------------------------------------

class Worker:
    """One `ksqlite serve` process of the service."""

    def __init__(self, bootstrap: str, service_id: str, data_dir: Path):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file = open(data_dir / "server.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pyksqlite.shell.cli", "serve", "--port", "0", "--data-dir", str(data_dir),
             "--bootstrap-servers", bootstrap, "-p", f"ksql.service.id={service_id}",
             "-p", "processing.guarantee=exactly_once_v2", "-p", "ksql.streams.auto.offset.reset=earliest"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log_file, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", line)
        if match is None:
            raise RuntimeError(f"the server did not start: {line!r}")
        self.url = match.group(0)

    def execute(self, sql: str) -> None:
        response = httpx.post(f"{self.url}/ksql", json={"ksql": sql, "streamsProperties": {}}, timeout=120)
        response.raise_for_status()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def committed_progress(admin: AdminClient, log: KafkaLog, group_prefix: str, topic: str) -> list[int]:
    """Per query group of the service: how many records of `topic` it has committed."""
    groups = [g.group_id for g in admin.list_consumer_groups().result(10).valid
              if g.group_id.startswith(group_prefix)]
    progress = []
    for group in sorted(groups):
        request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])]
        result = list(admin.list_consumer_group_offsets(request).values())[0].result(10)
        progress.append(sum(max(tp.offset, 0) for tp in result.topic_partitions))
    return progress


def committed_records(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"scale-out-check-{uuid.uuid4()}",
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    out, ended = [], set()
    while len(ended) < len(partitions):
        for message in consumer.consume(10_000, 1.0):
            if message.error():
                ended.add(message.partition())
            else:
                out.append((message.key(), message.value()))
    consumer.close()
    return out


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.25)


def run_on_kafka(bootstrap: str, processes: int, auctions: pa.Table, bids: pa.Table, kill: bool,
                 work_dir: Path) -> dict:
    tag = f"p{processes}_{uuid.uuid4().hex[:6]}"
    service_id = f"scale_{tag}_"
    log = KafkaLog(bootstrap)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for name in (f"auctions_{tag}", f"bids_{tag}"):
        log.create_topic(name, TopicConfig(partitions=PARTITIONS))
    append(log, f"auctions_{tag}", auctions)
    workers = [Worker(bootstrap, service_id, work_dir / f"{tag}-{i}") for i in range(processes)]
    group_prefix = f"_confluent-ksql-{service_id}query_"
    try:
        workers[0].execute(statements(tag))
        wait_until(lambda: len(committed_progress(admin, log, group_prefix, f"auctions_{tag}")) == 2 and
                   max(committed_progress(admin, log, group_prefix, f"auctions_{tag}")) == AUCTIONS,
                   120, "the join to load the auctions")
        events = bids.num_rows
        started = time.perf_counter()
        append(log, f"bids_{tag}", bids)
        half_seconds = None
        if kill:
            wait_until(lambda: min(committed_progress(admin, log, group_prefix, f"bids_{tag}")) >= events // 2,
                       600, "half of the bids")
            half_seconds = time.perf_counter() - started
            workers[-1].kill()
            print(f"  killed one of {processes} processes (SIGKILL) after half of the bids", flush=True)
        wait_until(lambda: min(committed_progress(admin, log, group_prefix, f"bids_{tag}")) >= events,
                   900, "all bids to be processed")
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "half_seconds": half_seconds, "tag": tag,
                "enriched": committed_records(bootstrap, f"enriched_{tag}"),
                "per_minute": committed_records(bootstrap, f"per_minute_{tag}")}
    finally:
        for worker in workers:
            worker.stop()
        log.close()


# --- comparing ------------------------------------------------------------------------------------

def latest_per_key(pairs: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return dict(pairs)   # in offset order per partition, and a key lives in one partition


def differences(run: dict, reference: dict) -> list[str]:
    problems = []
    got, want = Counter(run["enriched"]), Counter(reference["enriched"])
    if got != want:
        duplicates = sum((got - want).values())
        missing = sum((want - got).values())
        problems.append(f"join output: {duplicates} extra (duplicate) and {missing} missing records")
    got_table, want_table = latest_per_key(run["per_minute"]), latest_per_key(reference["per_minute"])
    if got_table != want_table:
        wrong = sum(1 for k in want_table if got_table.get(k) != want_table[k])
        problems.append(f"windowed table: {wrong} of {len(want_table)} windows differ "
                        f"({len(got_table)} windows present)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--processes", default="1,2,3", help="comma-separated process counts")
    parser.add_argument("--work-dir", help="keep the servers' data and logs here (default: a temporary dir)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.processes.split(",")]
    auctions, bids = auction_records(), bid_records(args.events)
    print(f"scale-out: {args.events} bids, {AUCTIONS} auctions, {PARTITIONS} partitions, "
          f"exactly_once_v2", flush=True)
    reference = embedded_reference(auctions, bids)
    print(f"  embedded log, 1 process: {args.events / reference['seconds']:,.0f} events/s "
          f"({len(reference['enriched'])} joined, {len(latest_per_key(reference['per_minute']))} windows)",
          flush=True)
    failures = []
    with tempfile.TemporaryDirectory(prefix="scale-out-") as scratch:   # servers log to */server.log
        work_dir = args.work_dir or scratch
        for processes in counts:
            kill = processes == max(counts) and processes > 1
            run = run_on_kafka(args.bootstrap_servers, processes, auctions, bids, kill, Path(work_dir))
            line = f"  kafka, {processes} process{'es' if processes > 1 else ''}: " \
                   f"{args.events / run['seconds']:,.0f} events/s"
            if run["half_seconds"]:
                line += (f" (first half, before the kill: {args.events / 2 / run['half_seconds']:,.0f} "
                         "events/s; the whole run includes the failover)")
            problems = differences(run, reference)
            print(line + ("" if not problems else " -- " + "; ".join(problems)), flush=True)
            failures.extend(f"{processes} processes: {p}" for p in problems)
    print("scale-out: OK" if not failures else "scale-out: FAILED: " + "; ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
