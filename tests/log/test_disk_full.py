"""A disk that fills up mid-append (a real 2 MiB tmpfs): what the log, its writers and a running
query do. The rule: an append that does not fit raises and stores nothing, what was stored stays
readable, and once there is space again appends succeed and survive a restart. A query whose
output does not fit pauses and resumes by itself, with nothing lost and nothing written twice.
"""
import time
from collections import Counter

import httpx
import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.common.errors import LogWriteException
from pyksqlite.log import EmbeddedLog, TopicConfig
from pyksqlite.log.api import LogAppendError
from pyksqlite.runtime.query_task import PAUSED, RUNNING
from pyksqlite.shell.server import ServerThread
from tests.log.log_test_data import records, values_of
from tests.log.small_disk import small_disk  # noqa: F401 - the fixture

PAD = "x" * 200


def segment_bytes(log, topic="t"):
    return {str(p): p.read_bytes() for p in (log.directory / "topics" / topic).glob("*/*.log")}


def all_values(log, topic="t"):
    return [values_of(log.read(topic, p, 0, max_records=10**9)) for p in range(len(log.end_offsets(topic)))]


def test_an_append_that_does_not_fit_stores_nothing_and_later_appends_survive(small_disk):
    log = EmbeddedLog(small_disk.path / "log", flush="batch")
    log.create_topic("t", TopicConfig(partitions=2))
    acked = [f"a{i}-{PAD}" for i in range(400)]
    log.append("t", records([str(i) for i in range(400)], acked))
    before, ends, stored = segment_bytes(log), log.end_offsets("t"), all_values(log)
    small_disk.fill()
    with pytest.raises(LogAppendError) as raised:
        log.append("t", records([str(i) for i in range(2000)], [f"b{i}-{PAD}" for i in range(2000)]))
    assert raised.value.disk_full
    assert segment_bytes(log) == before and log.end_offsets("t") == ends and all_values(log) == stored
    small_disk.free()
    later = [f"c{i}-{PAD}" for i in range(100)]
    log.append("t", records([str(i) for i in range(100)], later))
    log.close()
    reopened = EmbeddedLog(small_disk.path / "log")
    values = sum(all_values(reopened), [])
    assert Counter(values) == Counter(acked + later)
    for partition in range(2):
        offsets = reopened.read("t", partition, 0, max_records=10**9).column("offset").to_pylist()
        assert offsets == list(range(reopened.end_offsets("t")[partition]))
    reopened.close()


def test_appends_failing_one_by_one_on_a_full_disk_lose_none_of_those_acknowledged(small_disk):
    log = EmbeddedLog(small_disk.path / "log", flush="batch")
    log.create_topic("t")
    small_disk.fill()
    acknowledged = []
    for i in range(200):
        value = f"{i}-{PAD * 10}"
        try:
            log.append("t", records(["k"], [value]))
            acknowledged.append(value)
        except LogAppendError as error:
            assert error.disk_full
    assert len(acknowledged) < 200
    small_disk.free()
    for i in range(500):
        log.append("t", records(["k"], [f"after-{i}"]))
        acknowledged.append(f"after-{i}")
    log.close()
    reopened = EmbeddedLog(small_disk.path / "log")
    assert values_of(reopened.read("t", 0, 0, max_records=10**9)) == acknowledged
    reopened.close()


# --- writers above the log: INSERT, REST, a running query --------------------------------------

SOURCE = ("CREATE STREAM src (id INT KEY, v STRING) WITH (kafka_topic='src', partitions=2, "
          "value_format='JSON');")
FILTER = "CREATE STREAM evens AS SELECT id, v FROM src WHERE id % 2 = 0;"


def insert(engine, ids):
    engine.execute("".join(f"INSERT INTO src (id, v) VALUES ({i}, '{PAD}');" for i in ids))


def output_ids(engine):
    return [r.key for r in engine.read_topic_records("EVENS")]


def run_until(engine, condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        engine.run_until_idle(timeout=5)
        time.sleep(0.05)


def test_a_query_whose_output_does_not_fit_pauses_and_resumes_with_nothing_lost_or_doubled(small_disk):
    engine = Engine(small_disk.path / "data")
    engine.execute(SOURCE + FILTER)
    task = next(iter(engine.scheduler.tasks.values()))
    insert(engine, range(0, 1000))
    engine.run_until_idle(timeout=30)
    assert sorted(output_ids(engine)) == list(range(0, 1000, 2))
    insert(engine, range(1000, 3000))
    small_disk.fill()
    engine.run_until_idle(timeout=30)
    assert task.state == PAUSED and "disk is full" in task.error
    assert sorted(output_ids(engine)) == list(range(0, 1000, 2))  # nothing of the failed append
    small_disk.free()
    run_until(engine, lambda: task.state == RUNNING and engine.caught_up())
    assert Counter(output_ids(engine)) == Counter(range(0, 3000, 2))
    engine.close()
    restarted = Engine(small_disk.path / "data")  # the offsets were committed: no replay
    restarted.run_until_idle(timeout=30)
    assert Counter(output_ids(restarted)) == Counter(range(0, 3000, 2))
    restarted.close()


def test_an_insert_on_a_full_disk_fails_and_the_rows_acknowledged_survive(small_disk):
    engine = Engine(small_disk.path / "data")
    engine.execute(SOURCE)
    insert(engine, range(10))
    small_disk.fill()
    with pytest.raises(LogWriteException, match="Failed to insert values into 'SRC'.*No space left") as raised:
        insert(engine, range(10, 2000))
    inserted_before_the_failure = range(10, 10 + len(raised.value.results))  # (those that still fit)
    assert len(inserted_before_the_failure) < 1990
    small_disk.free()
    insert(engine, range(2000, 2010))
    engine.close()
    restarted = Engine(small_disk.path / "data")
    ids = [r.key for r in restarted.read_topic_records("src")]
    assert Counter(ids) == Counter([*range(10), *inserted_before_the_failure, *range(2000, 2010)])
    restarted.close()


def test_a_rest_insert_on_a_full_disk_gets_a_server_error_never_a_200(small_disk):
    engine = Engine(small_disk.path / "data")
    engine.execute(SOURCE)
    statements = "".join(f"INSERT INTO src (id, v) VALUES ({i}, '{PAD}');" for i in range(2000))
    with ServerThread(engine, port=0) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/ksql", json={"ksql": "INSERT INTO src (id, v) VALUES (-1, 'a');"}).status_code == 200
        small_disk.fill()
        response = http.post("/ksql", json={"ksql": statements})
        assert response.status_code == 500
        error = response.json()
        assert error["@type"] == "statement_error" and error["error_code"] == 50000
        assert "No space left on device" in error["message"]
        inserted_before_the_failure = list(range(len(error["entities"])))  # (those that still fit)
        small_disk.free()
        assert http.post("/ksql", json={"ksql": "INSERT INTO src (id, v) VALUES (-2, 'b');"}).status_code == 200
    engine.close()
    restarted = Engine(small_disk.path / "data")
    assert sorted(r.key for r in restarted.read_topic_records("src")) == [-2, -1, *inserted_before_the_failure]
    restarted.close()
