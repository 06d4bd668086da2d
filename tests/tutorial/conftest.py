"""A real engine on the real embedded log, reading from the earliest offset as ksqlDB's test
tools configure it (tests that check the `latest` default make their own)."""
from __future__ import annotations

import pytest

from pyksqlite.facade.engine import Engine


@pytest.fixture
def engine(tmp_path):
    e = Engine(tmp_path, {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none",
                          "ksql.streams.cache.max.bytes.buffering": 0})
    yield e
    e.close()
