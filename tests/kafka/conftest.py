"""Fixtures of the Kafka log tests: a real broker named by KSQLITE_KAFKA_BOOTSTRAP (start one with
`scripts/kafka-cluster.sh up 1`), never a mock. Each test's log has its own topic prefix and
deletes its topics afterwards, so tests share one cluster without seeing each other."""
from __future__ import annotations

import os
import time
import uuid

import pytest

BOOTSTRAP = os.environ.get("KSQLITE_KAFKA_BOOTSTRAP", "")
SKIP_REASON = ("needs a Kafka broker: run `scripts/kafka-cluster.sh up 1` and set "
               "KSQLITE_KAFKA_BOOTSTRAP to the address it prints")


def pytest_collection_modifyitems(config, items):
    if BOOTSTRAP:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if "tests/kafka/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture
def bootstrap() -> str:
    pytest.importorskip("confluent_kafka", reason="the `kafka` extra (confluent-kafka) is not installed")
    return BOOTSTRAP


def unique_prefix(name: str = "test") -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}."


@pytest.fixture
def kafka_log(bootstrap):
    from pyksqlite.log.kafka.log import KafkaLog
    log = KafkaLog(bootstrap, topic_prefix=unique_prefix())
    yield log
    log.close()
    log.delete_all_topics()


def wait_for(condition, timeout: float = 90.0) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False
