"""Fixtures of the connector tests: real engines on real log files in a temp dir, connectors
allowed to use that dir only (`ksqlite.connect.file.dirs`)."""
from __future__ import annotations

import pytest

from pyksqlite import Engine


@pytest.fixture
def make_engine(tmp_path):
    engines = []

    def make(**properties):
        engine = Engine(tmp_path / "data", {"ksqlite.log.flush": "none",
                                            "ksqlite.connect.file.dirs": str(tmp_path), **properties})
        engines.append(engine)
        return engine
    yield make
    for engine in engines:
        engine.close()


def restart(engine: Engine, make_engine) -> Engine:
    """Close `engine` and open its data dir again (the command topic replays)."""
    engine.close()
    return make_engine()


def datagen(name: str, topic: str, quickstart: str, iterations: int, seed: int = 42, extra: str = "") -> str:
    return (f"CREATE SOURCE CONNECTOR {name} WITH ("
            f"'connector.class'='io.confluent.kafka.connect.datagen.DatagenConnector', "
            f"'kafka.topic'='{topic}', 'quickstart'='{quickstart}', 'max.interval'=0, "
            f"'iterations'={iterations}, 'random.seed'={seed}{extra});")
