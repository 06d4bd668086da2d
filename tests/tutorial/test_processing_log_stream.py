"""ksqlDB's processing log as a stream: with `ksql.logging.processing.topic.auto.create` and
`ksql.logging.processing.stream.auto.create`, records a query skips are written to the topic
`<service id>ksql_processing_log` as JSON (logger, level, time, message{type, ...Error}) and the
stream KSQL_PROCESSING_LOG over it can be queried and printed."""
from __future__ import annotations

import base64

from pyksqlite.facade.engine import Engine, TestRecord

PROPS = {"ksqlite.log.flush": "none", "auto.offset.reset": "earliest",
         "ksql.logging.processing.topic.auto.create": "true",
         "ksql.logging.processing.stream.auto.create": "true"}


def _bad_record(engine):
    engine.execute("CREATE STREAM s (k STRING KEY, n INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE STREAM o AS SELECT k, n FROM s;")
    engine.produce_test_records([TestRecord("s", "a", "not json{"), TestRecord("s", "b", {"n": 1})])
    engine.run_until_idle()


def test_entries_are_written_to_the_topic_in_ksqldb_shape(tmp_path):
    engine = Engine(tmp_path, PROPS)
    try:
        _bad_record(engine)
        (entry,) = [r.value for r in engine.read_topic_records("default_ksql_processing_log")]
        assert entry["level"] == "ERROR" and entry["logger"].startswith("processing.CSAS_O_")
        message = entry["message"]
        assert message["type"] == 0
        error = message["deserializationError"]
        assert error["target"] == "value" and error["topic"] == "s"
        assert error["errorMessage"].startswith("Failed to deserialize value from topic: s.")
        assert error["recordB64"] is None      # rows are not included by default
        assert all(message[name] is None for name in ("recordProcessingError", "productionError",
                                                       "serializationError", "kafkaStreamsThreadError"))
        assert engine.processing_log()  # the in-memory view is kept
    finally:
        engine.close()


def test_the_stream_is_queryable(tmp_path):
    engine = Engine(tmp_path, {**PROPS, "ksql.logging.processing.rows.include": "true"})
    try:
        _bad_record(engine)
        description = engine.execute("DESCRIBE KSQL_PROCESSING_LOG;")[0].entity["sourceDescription"]
        assert [f["name"] for f in description["fields"]] == ["LOGGER", "LEVEL", "TIME", "MESSAGE"]
        engine.execute("CREATE STREAM errors AS SELECT message->deserializationError->errorMessage AS msg, "
                       "message->deserializationError->recordB64 AS raw, message->deserializationError->`topic` AS t "
                       "FROM KSQL_PROCESSING_LOG WHERE message->type = 0;")
        engine.run_until_idle()
        (row,) = [r.value for r in engine.read_topic_records("ERRORS")]
        assert row["T"] == "s" and base64.b64decode(row["RAW"]) == b'"not json{"'
        assert "Failed to deserialize value" in row["MSG"]
    finally:
        engine.close()


def test_names_from_properties_and_restart(tmp_path):
    props = {**PROPS, "ksql.service.id": "svc_", "ksql.logging.processing.stream.name": "errs"}
    engine = Engine(tmp_path, props)
    _bad_record(engine)
    assert engine.catalog.get_source("ERRS").topic == "svc_ksql_processing_log"
    engine.execute("CREATE STREAM err_copy AS SELECT level FROM errs;")
    engine.run_until_idle()
    engine.close()
    restarted = Engine(tmp_path, props)   # the stream is declared again, the query over it replays
    try:
        assert "ERR_COPY" in restarted.catalog.sources and restarted.catalog.get_source("ERRS") is not None
        restarted.produce_test_records([TestRecord("s", "c", "also bad")])
        restarted.run_until_idle()
        assert [r.value for r in restarted.read_topic_records("ERR_COPY")] == [{"LEVEL": "ERROR"}] * 2
    finally:
        restarted.close()


def test_without_the_properties_nothing_is_created(tmp_path):
    engine = Engine(tmp_path, {"ksqlite.log.flush": "none", "auto.offset.reset": "earliest"})
    try:
        _bad_record(engine)
        assert not engine.log.topic_exists("default_ksql_processing_log")
        assert engine.catalog.get_source("KSQL_PROCESSING_LOG") is None
        assert engine.processing_log()
    finally:
        engine.close()
