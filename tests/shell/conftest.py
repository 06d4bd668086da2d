"""Fixtures: a real ksqlite server on a loopback port (Hypercorn in a thread) over a fresh engine."""
from __future__ import annotations

import httpx
import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.shell.server import ServerThread


@pytest.fixture
def engine(tmp_path):
    engine = Engine(tmp_path / "data", properties={"ksqlite.log.flush": "none"})
    yield engine
    engine.close()


@pytest.fixture
def server(engine):
    with ServerThread(engine, port=0, send_timeout=3.0) as running:
        yield running


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def ksql(http, sql: str, **body):
    response = http.post("/ksql", json={"ksql": sql, **body})
    return response


STREAM_DDL = ("CREATE STREAM pageviews (id INT KEY, page STRING, ms BIGINT) "
              "WITH (kafka_topic='pageviews', partitions=1, value_format='JSON');")
