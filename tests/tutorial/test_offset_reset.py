"""ksqlDB's persistent queries start at the latest offset unless `auto.offset.reset` (or
`ksql.streams.auto.offset.reset`) says `earliest`, in the session (SET) or the server's
properties; the start is where the topic ended when the statement ran, and a restart resumes
from the committed offsets."""
from __future__ import annotations

from pyksqlite.facade.engine import Engine

DDL = "CREATE STREAM s (id INT KEY, v STRING) WITH (kafka_topic='s', partitions=1, value_format='JSON');"


def _ids(engine, topic):
    return [r.key for r in engine.read_topic_records(topic)]


def test_default_is_latest(tmp_path):
    engine = Engine(tmp_path, {"ksqlite.log.flush": "none"})
    try:
        engine.execute(DDL)
        engine.execute("INSERT INTO s (id, v) VALUES (1, 'before');")
        engine.execute("CREATE STREAM o AS SELECT * FROM s;")
        engine.execute("INSERT INTO s (id, v) VALUES (2, 'after');")   # before the query's first poll
        engine.run_until_idle()
        assert _ids(engine, "O") == [2]
    finally:
        engine.close()


def test_session_set_earliest_reads_from_the_start(tmp_path):
    engine = Engine(tmp_path, {"ksqlite.log.flush": "none"})
    try:
        engine.execute(DDL)
        engine.execute("INSERT INTO s (id, v) VALUES (1, 'before');")
        engine.execute("SET 'auto.offset.reset'='earliest'; CREATE STREAM o AS SELECT * FROM s;")
        engine.run_until_idle()
        assert _ids(engine, "O") == [1]
    finally:
        engine.close()


def test_server_property_with_streams_prefix(tmp_path):
    engine = Engine(tmp_path, {"ksqlite.log.flush": "none", "ksql.streams.auto.offset.reset": "earliest"})
    try:
        engine.execute(DDL)
        engine.execute("INSERT INTO s (id, v) VALUES (1, 'before');")
        engine.execute("CREATE STREAM o AS SELECT * FROM s;")
        engine.run_until_idle()
        assert _ids(engine, "O") == [1]
    finally:
        engine.close()


def test_restart_before_the_first_commit_keeps_the_start(tmp_path):
    """The start position is kept when the query is created: records written after the
    statement returned are the query's even if the process stops before processing them."""
    engine = Engine(tmp_path, {"ksqlite.log.flush": "none"})
    engine.execute(DDL)
    engine.execute("INSERT INTO s (id, v) VALUES (1, 'before');")
    engine.execute("CREATE STREAM o AS SELECT * FROM s;")
    engine.execute("INSERT INTO s (id, v) VALUES (2, 'after');")
    engine.close()
    restarted = Engine(tmp_path, {"ksqlite.log.flush": "none"})
    try:
        restarted.execute("INSERT INTO s (id, v) VALUES (3, 'after restart');")
        restarted.run_until_idle()
        assert _ids(restarted, "O") == [2, 3]
    finally:
        restarted.close()
