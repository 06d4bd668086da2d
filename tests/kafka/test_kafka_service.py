"""Several engines as one ksqlDB service on a real broker: the shared command topic, partitions
split between the processes' consumers, and state that moves with its partitions through the
changelog topic when a member leaves."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.log.kafka.log import KafkaLog
from pyksqlite.shell.server import ServerThread
from tests.kafka.conftest import unique_prefix, wait_for

PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest", "ksql.service.id": "svc_",
              "ksqlite.checkpoint.interval.ms": 200}
SETUP = ("CREATE STREAM bids (auction BIGINT KEY, price BIGINT) "
         "WITH (kafka_topic='bids', value_format='JSON');"
         "CREATE TABLE totals AS SELECT auction, COUNT(*) AS n, SUM(price) AS total "
         "FROM bids GROUP BY auction EMIT CHANGES;")


def bids(start: int, count: int) -> list[TestRecord]:
    return [TestRecord("bids", k % 20, {"price": k}, timestamp=k) for k in range(start, start + count)]


def expected_totals(count: int) -> dict[int, tuple[int, int]]:
    out: dict[int, tuple[int, int]] = {}
    for k in range(count):
        n, total = out.get(k % 20, (0, 0))
        out[k % 20] = (n + 1, total + k)
    return out


def latest_totals(engine: Engine) -> dict[int, tuple[int, int]]:
    return {r.key: (r.value["N"], r.value["TOTAL"]) for r in engine.read_topic_records("TOTALS")
            if r.value is not None}



def owned_partitions(query_id: str, *engines: Engine) -> list[int]:
    """How many input partitions each engine's task of the query owns, in ascending order."""
    counts = []
    for engine in engines:
        task = engine.scheduler.tasks[query_id]
        with task._lock:     # the consumer is not thread-safe: wait for the task's step to end
            counts.append(len(task.consumer.assignment()))
    return sorted(counts)


class Service:
    """The engines (processes) of one service on the broker: one topic prefix, one service id."""

    def __init__(self, bootstrap: str, work_dir):
        self.bootstrap, self.work_dir = bootstrap, work_dir
        self.prefix = unique_prefix("service")
        self.engines: list[Engine] = []

    def start(self, name: str) -> Engine:
        engine = Engine(self.work_dir / name, dict(PROPERTIES),
                        log=KafkaLog(self.bootstrap, topic_prefix=self.prefix))
        engine.start()
        self.engines.append(engine)
        return engine

    def stop(self, engine: Engine) -> None:
        """The process leaves: its partitions (and their state) move to the others."""
        self.engines.remove(engine)
        engine.close()

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
        KafkaLog(self.bootstrap, topic_prefix=self.prefix).delete_all_topics()


@pytest.fixture
def service(bootstrap, tmp_path):
    running = Service(bootstrap, tmp_path)
    yield running
    running.close()


def test_two_processes_split_a_query_and_hand_state_over(service):
    first = service.start("a")
    first.create_topic("bids", partitions=4)
    first.execute(SETUP)
    second = service.start("b")    # replays the command topic
    assert list(second.catalog.queries) == list(first.catalog.queries) == ["CTAS_TOTALS_0"]
    first.produce_test_records(bids(0, 400))
    assert wait_for(lambda: latest_totals(first) == expected_totals(400))
    assert wait_for(lambda: owned_partitions("CTAS_TOTALS_0", first, second) == [2, 2])  # split in two

    service.stop(first)
    second.produce_test_records(bids(400, 400))
    assert wait_for(lambda: latest_totals(second) == expected_totals(800))
    assert owned_partitions("CTAS_TOTALS_0", second) == [4]


def test_a_statement_on_one_server_runs_on_the_other(service):
    first, second = service.start("a"), service.start("b")
    first.create_topic("bids", partitions=2)
    first.execute(SETUP)
    assert wait_for(lambda: "CTAS_TOTALS_0" in second.catalog.queries, timeout=30)
    second.execute("CREATE STREAM big AS SELECT * FROM bids WHERE price > 5;")
    assert wait_for(lambda: "CSAS_BIG_1" in first.catalog.queries, timeout=30)
    assert second.describe_source("BIG")["name"] == first.describe_source("BIG")["name"]


def test_grouping_by_a_value_column_goes_through_a_repartition_topic(service):
    first = service.start("a")
    first.create_topic("bids", partitions=4)
    first.execute("CREATE STREAM bids (auction BIGINT KEY, price BIGINT) "
                  "WITH (kafka_topic='bids', value_format='JSON');"
                  "CREATE TABLE by_band WITH (key_format='JSON') AS "
                  "SELECT price % 3 AS band, COUNT(*) AS n FROM bids GROUP BY price % 3;")
    second = service.start("b")
    first.produce_test_records(bids(0, 300))     # every band's bids are in every partition
    expected = {band: 100 for band in range(3)}

    def counts():
        return {r.key: r.value["N"] for r in first.read_topic_records("BY_BAND") if r.value}
    assert wait_for(lambda: counts() == expected)
    assert "_confluent-ksql-svc_query_CTAS_BY_BAND_0-Aggregate-GroupBy-repartition" in first.log.list_topics()
    assert list(first.catalog.queries) == ["CTAS_BY_BAND_0"]
    assert wait_for(lambda: owned_partitions("CTAS_BY_BAND_0", first, second) == [2, 2])


def test_joining_on_a_stream_value_column_goes_through_a_repartition_topic(service):
    first = service.start("a")
    first.create_topic("orders", partitions=3)
    first.create_topic("products", partitions=2)
    first.execute("CREATE STREAM orders (id BIGINT KEY, product STRING, qty INT) "
                  "WITH (kafka_topic='orders', value_format='JSON');"
                  "CREATE TABLE products (name STRING PRIMARY KEY, price DOUBLE) "
                  "WITH (kafka_topic='products', value_format='JSON');")
    first.produce_test_records([TestRecord("products", f"p{i}", {"price": float(i)}, timestamp=0)
                                for i in range(5)])
    first.execute("CREATE STREAM priced AS SELECT o.id, o.product, o.qty * p.price AS cost "
                  "FROM orders o JOIN products p ON o.product = p.name;")
    service.start("b")
    time.sleep(3)   # both members in the group before the orders come
    first.produce_test_records([TestRecord("orders", k, {"product": f"p{k % 5}", "qty": 2}, timestamp=10 + k)
                                for k in range(60)])
    expected = sorted((f"p{k % 5}", k, 2.0 * (k % 5)) for k in range(60))

    def priced():   # keyed by the join column, as ksqlDB keys a join's result
        return sorted((r.key, r.value["ID"], r.value["COST"]) for r in first.read_topic_records("PRICED"))
    assert wait_for(lambda: priced() == expected)
    assert "_confluent-ksql-svc_query_CSAS_PRICED_0-Join-repartition" in first.log.list_topics()


def test_any_server_answers_a_pull_query_for_partitions_another_owns(service):
    """ksqlDB forwards a pull query to the server that owns the key's partition; here a table's
    state is its own topic, which every server of the service reads, so each answers in full."""
    first = service.start("a")
    first.create_topic("bids", partitions=4)
    first.execute(SETUP)
    second = service.start("b")
    first.produce_test_records(bids(0, 400))
    assert wait_for(lambda: latest_totals(first) == expected_totals(400))
    assert wait_for(lambda: owned_partitions("CTAS_TOTALS_0", first, second) == [2, 2])
    with ServerThread(second, port=0) as server, httpx.Client(base_url=server.url) as http:
        response = http.post("/query-stream", json={"sql": "SELECT * FROM totals;"})
        rows = [json.loads(line) for line in response.text.splitlines()[1:] if line.strip()]
    assert sorted((auction, (n, total)) for auction, n, total in rows) == sorted(expected_totals(400).items())
