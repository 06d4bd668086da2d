"""exactly_once_v2 on a real broker: outputs, state snapshots and offsets commit in one Kafka
transaction, so a process killed with SIGKILL mid-stream leaves neither duplicates nor gaps once
another process of the service has taken its partitions over."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
from confluent_kafka import Consumer, TopicPartition

from pyksqlite.facade.engine import Engine
from pyksqlite.log.api import HEADER_TYPE
from pyksqlite.log.kafka.log import KafkaLog
from tests.kafka.conftest import unique_prefix, wait_for

ROOT = Path(__file__).resolve().parents[2]
PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest", "ksql.service.id": "eos_",
              "processing.guarantee": "exactly_once_v2", "ksqlite.checkpoint.interval.ms": 100}
SETUP = ("CREATE STREAM bids (auction BIGINT KEY, price BIGINT) "
         "WITH (kafka_topic='bids', value_format='JSON');"
         "CREATE STREAM doubled AS SELECT auction, price * 2 AS twice FROM bids;"
         "CREATE TABLE totals AS SELECT auction, COUNT(*) AS n, SUM(price) AS total "
         "FROM bids GROUP BY auction EMIT CHANGES;")
# The process that gets killed: it runs the service's queries until SIGKILL.
WORKER = """
import sys, threading
sys.path.insert(0, {root!r})
from pyksqlite.facade.engine import Engine
from pyksqlite.log.kafka.log import KafkaLog
engine = Engine({data!r}, {properties!r}, log=KafkaLog({bootstrap!r}, topic_prefix={prefix!r}))
engine.start()
print("started", flush=True)
threading.Event().wait()
"""


def produce_bids(log: KafkaLog, start: int, count: int) -> None:
    """Bids keyed by auction (KAFKA BIGINT: 8 bytes, big-endian) with JSON values."""
    numbers = range(start, start + count)
    log.append("bids", pa.table({
        "key": pa.array([(k % 10).to_bytes(8, "big") for k in numbers], pa.binary()),
        "value": pa.array([b'{"PRICE":%d}' % k for k in numbers], pa.binary()),
        "timestamp": pa.array(list(numbers), pa.int64()),
        "headers": pa.nulls(count, HEADER_TYPE)}))


def committed_records(bootstrap: str, prefix: str, topic: str) -> list[tuple[bytes, bytes]]:
    """Every committed record of a topic, read as a downstream read_committed consumer would."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}",
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})
    wire = prefix + topic
    partitions = consumer.list_topics(wire, timeout=10).topics[wire].partitions
    consumer.assign([TopicPartition(wire, p, 0) for p in partitions])
    out, ended = [], set()
    deadline = time.monotonic() + 30
    while len(ended) < len(partitions) and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            ended.add(message.partition())
        else:
            out.append((message.key(), message.value()))
    consumer.close()
    return out



def test_a_killed_process_leaves_no_duplicates_and_no_gaps(bootstrap, tmp_path):
    prefix = unique_prefix("eos")
    properties = {**PROPERTIES}
    driver = Engine(tmp_path / "driver", properties, log=KafkaLog(bootstrap, topic_prefix=prefix))
    worker = survivor = None
    try:
        driver.create_topic("bids", partitions=2)
        driver.execute(SETUP)
        driver.close()   # the driver only created the service's statements
        driver = None
        script = WORKER.format(root=str(ROOT), data=str(tmp_path / "worker"), properties=properties,
                               bootstrap=bootstrap, prefix=prefix)
        worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert worker.stdout.readline().strip() == "started"
        feeder = KafkaLog(bootstrap, topic_prefix=prefix)
        total = 0
        for _ in range(10):                       # the worker is busy while it is killed
            produce_bids(feeder, total, 500)
            total += 500
            time.sleep(0.2)
        assert wait_for(lambda: len(committed_records(bootstrap, prefix, "DOUBLED")) > 0, 60)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        produce_bids(feeder, total, 2000)
        total += 2000
        feeder.close()
        survivor = Engine(tmp_path / "survivor", properties, log=KafkaLog(bootstrap, topic_prefix=prefix))
        survivor.start()
        assert wait_for(lambda: len(committed_records(bootstrap, prefix, "DOUBLED")) >= total, 120)
        doubled = committed_records(bootstrap, prefix, "DOUBLED")
        assert len(doubled) == total                                  # none twice, none lost
        assert sorted(int.from_bytes(k, "big", signed=True) for k, _ in doubled) == \
            sorted(k % 10 for k in range(total))
        latest = dict(committed_records(bootstrap, prefix, "TOTALS"))
        counts = Counter(k % 10 for k in range(total))
        for key, value in latest.items():
            auction = int.from_bytes(key, "big", signed=True)
            assert f'"N":{counts[auction]}' in value.decode()
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        for engine in (driver, survivor):
            if engine is not None:
                engine.close()
        KafkaLog(bootstrap, topic_prefix=prefix).delete_all_topics()
