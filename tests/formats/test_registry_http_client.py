"""A real Schema Registry client (confluent-kafka's SchemaRegistryClient) against the embedded
registry served over HTTP by uvicorn on a loopback port."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

sr = pytest.importorskip("confluent_kafka.schema_registry")
uvicorn = pytest.importorskip("uvicorn")

from pyksqlite.serde.registry import SchemaRegistry  # noqa: E402
from pyksqlite.serde.registry.http import registry_app  # noqa: E402


@pytest.fixture
def registry_url(tmp_path):
    registry = SchemaRegistry(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(registry_app(registry), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", registry
    server.should_exit = True
    thread.join(timeout=5)


def test_confluent_client_registers_and_reads(registry_url):
    url, registry = registry_url
    client = sr.SchemaRegistryClient({"url": url})
    v1 = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})
    schema_id = client.register_schema("orders-value", sr.Schema(v1, "AVRO"))
    assert registry.by_id(schema_id).schema == v1                       # stored in the embedded registry
    assert client.get_schema(schema_id).schema_str == v1
    assert client.get_subjects() == ["orders-value"]
    latest = client.get_latest_version("orders-value")
    assert (latest.schema_id, latest.version) == (schema_id, 1)
    proto = 'syntax = "proto3"; message M { int32 a = 1; }'
    proto_id = client.register_schema("orders-key", sr.Schema(proto, "PROTOBUF"))
    assert client.get_schema(proto_id).schema_type == "PROTOBUF"
    incompatible = json.dumps({"type": "record", "name": "R", "fields": [{"name": "b", "type": "string"}]})
    assert client.test_compatibility("orders-value", sr.Schema(incompatible, "AVRO")) is False
    with pytest.raises(sr.SchemaRegistryError) as raised:
        client.register_schema("orders-value", sr.Schema(incompatible, "AVRO"))
    assert raised.value.http_status_code == 409
    with pytest.raises(sr.SchemaRegistryError) as raised:
        client.get_latest_version("missing-value")
    assert raised.value.error_code == 40401
