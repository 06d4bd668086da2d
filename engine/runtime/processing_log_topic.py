"""Setting up ksqlDB's processing-log topic and stream from the server's properties.

`ksql.logging.processing.topic.auto.create` creates the topic (`ksql.logging.processing.topic.name`,
default `<ksql.service.id>ksql_processing_log`, `ksql.logging.processing.topic.partitions`
partitions); `ksql.logging.processing.stream.auto.create` declares the stream over it
(`ksql.logging.processing.stream.name`, default KSQL_PROCESSING_LOG) when the topic exists, as
ksqlDB does at start. With either set, entries are written to the topic
(`ksql.logging.processing.rows.include` adds the failed record's bytes or values).
"""
from __future__ import annotations

import logging
from typing import Callable

import pyarrow as pa

from pyksqlite.catalog.ddl import Config
from pyksqlite.log.api import HEADER_TYPE, Log, TopicConfig
from pyksqlite.common.names import check_topic_name
from pyksqlite.common.processing_log import ProcessingLog, stream_statement

logger = logging.getLogger("ksqlite.processing")
DEFAULT_STREAM = "KSQL_PROCESSING_LOG"


def topic_name(config: Config, service_id: str) -> str:
    return str(config.get("ksql.logging.processing.topic.name") or f"{service_id}ksql_processing_log")


def set_up(config: Config, service_id: str, log: Log, processing_log: ProcessingLog,
           create_stream: Callable[[str], None], appended: Callable[[], None]) -> None:
    """Create what the properties ask for and route the entries to the topic."""
    create_topic = config.get_bool("ksql.logging.processing.topic.auto.create", False)
    wants_stream = config.get_bool("ksql.logging.processing.stream.auto.create", False)
    if not (create_topic or wants_stream):
        return
    topic = check_topic_name(topic_name(config, service_id))
    if create_topic:
        partitions = int(config.get("ksql.logging.processing.topic.partitions", 1))
        log.create_topic(topic, TopicConfig(partitions=partitions), exist_ok=True)
    if not log.topic_exists(topic):
        logger.warning("the processing-log topic %s does not exist (set "
                       "ksql.logging.processing.topic.auto.create=true): entries stay in memory", topic)
        return

    def append(values: pa.Array, timestamps: pa.Array) -> None:
        log.append(topic, pa.table({"key": pa.nulls(len(values), pa.binary()), "value": values,
                                    "timestamp": timestamps, "headers": pa.nulls(len(values), HEADER_TYPE)}))
        appended()

    processing_log.write_to(append, include_rows=config.get_bool("ksql.logging.processing.rows.include", False))
    if wants_stream:
        stream = str(config.get("ksql.logging.processing.stream.name") or DEFAULT_STREAM)
        create_stream(stream_statement(stream, topic))
