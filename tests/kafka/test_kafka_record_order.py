"""Kafka Streams' record order on a Kafka log: a join created over topics that already hold data
takes the table's records before the later events (lag from the fetched high watermarks), so
every event is joined, whatever the batch size."""
from __future__ import annotations

import numpy as np

from pyksqlite.facade.engine import Engine
from pyksqlite.log.kafka.log import KafkaLog
from tests.engine.test_record_order import USERS, append_json, sink_rows
from tests.kafka.conftest import unique_prefix

EVENTS = 20_000


def test_a_join_over_existing_data_on_kafka_joins_every_record(bootstrap, tmp_path):
    log = KafkaLog(bootstrap, topic_prefix=unique_prefix("order"))
    engine = Engine(tmp_path, {"ksql.streams.auto.offset.reset": "earliest"}, log=log)
    try:
        engine.execute("CREATE TABLE users (id BIGINT PRIMARY KEY, name BIGINT) "
                       "WITH (kafka_topic='users', value_format='JSON', partitions=4);")
        engine.execute("CREATE STREAM events (uid BIGINT KEY, v BIGINT) "
                       "WITH (kafka_topic='events', value_format='JSON', partitions=4);")
        ids = np.arange(USERS, dtype=np.int64)
        append_json(engine, "users", ids, "NAME", ids + 1_000_000, np.zeros(USERS, np.int64))
        append_json(engine, "events", np.arange(EVENTS, dtype=np.int64) % USERS, "V", np.arange(EVENTS),
                    np.arange(1, EVENTS + 1))
        engine.execute("CREATE STREAM joined AS SELECT e.uid, e.v, u.name FROM events e LEFT JOIN users u "
                       "ON e.uid = u.id;")
        for task in engine.scheduler.tasks.values():
            task.max_batch = 1_000
        assert engine.run_until_idle(timeout=120)
        rows = sink_rows(engine, "JOINED")
        assert rows.num_rows == EVENTS
        assert rows.column("NAME").null_count == 0
        assert np.array_equal(rows.column("NAME").to_numpy(), rows.column("V").to_numpy() % USERS + 1_000_000)
    finally:
        engine.close()
        log.delete_all_topics()
