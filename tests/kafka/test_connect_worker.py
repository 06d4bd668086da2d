"""ksqlDB's external connect mode: the connector statements go to a real Kafka Connect worker
(`ksql.connect.url`, started by `scripts/connect-worker.sh up $KSQLITE_KAFKA_BOOTSTRAP`, its URL in
KSQLITE_CONNECT_URL), which runs Kafka's FileStreamSource into the broker."""
from __future__ import annotations

import os
import uuid

import pytest

from tests.kafka.conftest import wait_for

CONNECT_URL = os.environ.get("KSQLITE_CONNECT_URL", "")


@pytest.fixture
def engine(bootstrap, tmp_path):
    if not CONNECT_URL:
        if os.environ.get("KSQLITE_REQUIRE_CONNECT"):
            pytest.fail("KSQLITE_REQUIRE_CONNECT is set but KSQLITE_CONNECT_URL is not")
        pytest.skip("needs a Kafka Connect worker: run `scripts/connect-worker.sh up $KSQLITE_KAFKA_BOOTSTRAP` "
                    "and set KSQLITE_CONNECT_URL to the URL it prints")
    from pyksqlite import Engine
    engine = Engine(tmp_path / "data", {"bootstrap.servers": bootstrap, "ksql.connect.url": CONNECT_URL,
                                        "ksql.service.id": f"connect_{uuid.uuid4().hex[:8]}_"})
    yield engine
    engine.close()


def test_file_source_connector_on_a_connect_worker(engine, tmp_path):
    name = f"file_{uuid.uuid4().hex[:8]}"
    topic = f"lines-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "in.txt"
    source.write_text("first\nsecond\n")
    engine.execute(f"CREATE STREAM lines (line STRING) WITH (kafka_topic='{topic}', value_format='KAFKA', partitions=1);")
    created = engine.execute(
        f"CREATE SOURCE CONNECTOR `{name}` WITH ('connector.class'='FileStreamSource', "
        f"'file'='{source}', 'topic'='{topic}', 'tasks.max'='1', "
        "'value.converter'='org.apache.kafka.connect.storage.StringConverter');")[0].entity
    assert created["@type"] == "connector_info"
    assert created["info"]["name"] == name and created["info"]["type"] == "source"
    try:
        assert wait_for(lambda: _state(engine, name) == "RUNNING (1/1 tasks RUNNING)", timeout=60)
        listed = engine.execute("SHOW SOURCE CONNECTORS;")[0].entity["connectors"]
        assert {"name": name, "type": "source",
                "className": "FileStreamSource", "state": "RUNNING (1/1 tasks RUNNING)"} in listed
        assert wait_for(lambda: engine.log.end_offsets(topic)[0] >= 2, timeout=60)
        assert [r.value for r in engine.read_topic_records(topic)][:2] == [{"LINE": "first"}, {"LINE": "second"}] \
            or [r.value for r in engine.read_topic_records(topic)][:2] == ["first", "second"]
        described = engine.execute(f"DESCRIBE CONNECTOR `{name}`;")[0].entity
        assert described["@type"] == "connector_description"
        assert described["status"]["connector"]["state"] == "RUNNING"
        assert wait_for(lambda: engine.execute(f"DESCRIBE CONNECTOR `{name}`;")[0].entity["topics"] == [topic], 30)
        assert [s["name"] for s in engine.execute(f"DESCRIBE CONNECTOR `{name}`;")[0].entity["sources"]] == ["LINES"]
    finally:
        dropped = engine.execute(f"DROP CONNECTOR `{name}`;")[0].entity
    assert dropped == {"@type": "drop_connector", "statementText": f"DROP CONNECTOR `{name}`",
                       "connectorName": name, "warnings": []}
    assert name not in [c["name"] for c in engine.execute("SHOW CONNECTORS;")[0].entity["connectors"]]
    assert engine.execute(f"DROP CONNECTOR IF EXISTS `{name}`;")[0].entity["@type"] == "warning_entity"


def _state(engine, name):
    for connector in engine.execute("SHOW CONNECTORS;")[0].entity["connectors"]:
        if connector["name"] == name:
            return connector.get("state")
    return None
