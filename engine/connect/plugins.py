"""The connector classes the embedded worker runs, by the names users already write.

A class is found by its full name, its simple name, or its simple name without `Connector`
(Kafka Connect's plugin aliases: `FileStreamSource` is `FileStreamSourceConnector`). Any other
class is refused with a message that lists the embedded ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pyksqlite.connect.api import SINK, SOURCE, ConnectError

VERSION = "ksqlite-embedded"


@dataclass(frozen=True)
class Plugin:
    class_name: str
    type: str                       # source | sink
    factory: Callable               # (name, config, context) -> Runner; checks the config


def _datagen(name, config, context):
    from pyksqlite.connect.datagen import DatagenSource
    return DatagenSource(name, config, context)


def _file_source(name, config, context):
    from pyksqlite.connect.files import FileSource
    return FileSource(name, config, context)


def _file_sink(name, config, context):
    from pyksqlite.connect.files import FileSink
    return FileSink(name, config, context)


def _jdbc_sink(name, config, context):
    from pyksqlite.connect.jdbc_sink import JdbcSink
    return JdbcSink(name, config, context)


def _jdbc_source(name, config, context):
    from pyksqlite.connect.jdbc_source import JdbcSource
    return JdbcSource(name, config, context)


PLUGINS = [
    Plugin("io.confluent.kafka.connect.datagen.DatagenConnector", SOURCE, _datagen),
    Plugin("org.apache.kafka.connect.file.FileStreamSourceConnector", SOURCE, _file_source),
    Plugin("org.apache.kafka.connect.file.FileStreamSinkConnector", SINK, _file_sink),
    Plugin("io.confluent.connect.jdbc.JdbcSourceConnector", SOURCE, _jdbc_source),
    Plugin("io.confluent.connect.jdbc.JdbcSinkConnector", SINK, _jdbc_sink),
]


def find_plugin(class_name: str) -> Plugin:
    wanted = class_name.strip()
    for plugin in PLUGINS:
        simple = plugin.class_name.rsplit(".", 1)[-1]
        if wanted in (plugin.class_name, simple, simple.removesuffix("Connector")):
            return plugin
    raise ConnectError(400, f"Connector class '{class_name}' is not available in ksqlite's embedded "
                            f"connect worker. The embedded connectors are: "
                            f"{', '.join(p.class_name for p in PLUGINS)}. Other connectors run on a "
                            "Kafka Connect worker: set ksql.connect.url to its REST address.")
