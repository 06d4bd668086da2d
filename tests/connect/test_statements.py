"""The connector statements and ksqlDB's entities for them, on the embedded worker: what ksqlDB's
clients and the REPL read back."""
from __future__ import annotations

import pytest

from pyksqlite.common.errors import KsqlException
from pyksqlite.shell.render import render_entity
from tests.connect.conftest import datagen, restart


def entity(engine, sql):
    return engine.execute(sql)[0].entity


def test_create_returns_connector_info_and_list_shows_state(make_engine):
    engine = make_engine()
    created = entity(engine, datagen("gen", "pv", "pageviews", 5))
    assert created["@type"] == "connector_info"
    assert created["info"]["name"] == "GEN"
    assert created["info"]["type"] == "source"
    assert created["info"]["config"]["kafka.topic"] == "pv"
    assert created["info"]["tasks"] == [{"connector": "GEN", "task": 0}]
    listed = entity(engine, "SHOW CONNECTORS;")
    assert listed["@type"] == "connector_list"
    assert listed["connectors"] == [{"name": "GEN", "type": "source",
                                     "className": "io.confluent.kafka.connect.datagen.DatagenConnector",
                                     "state": "RUNNING (1/1 tasks RUNNING)"}]
    assert entity(engine, "LIST SINK CONNECTORS;")["connectors"] == []
    assert [c["name"] for c in entity(engine, "SHOW SOURCE CONNECTORS;")["connectors"]] == ["GEN"]


def test_describe_lists_tasks_topics_and_the_sources_on_them(make_engine):
    engine = make_engine()
    engine.execute(datagen("gen", "pv", "pageviews", 5))
    engine.execute("CREATE STREAM pageviews (viewtime BIGINT, userid STRING, pageid STRING) "
                   "WITH (kafka_topic='pv', value_format='JSON');")
    described = entity(engine, "DESCRIBE CONNECTOR gen;")
    assert described["@type"] == "connector_description"
    assert described["connectorClass"] == "io.confluent.kafka.connect.datagen.DatagenConnector"
    assert described["status"]["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in described["status"]["tasks"]] == ["RUNNING"]
    assert described["topics"] == ["pv"]
    assert [s["name"] for s in described["sources"]] == ["PAGEVIEWS"]
    text = render_entity(described)
    assert "DatagenConnector" in text and "PAGEVIEWS" in text


def test_drop_and_if_exists_warnings(make_engine):
    engine = make_engine()
    engine.execute(datagen("gen", "pv", "pageviews", 5))
    again = entity(engine, datagen("gen", "pv", "pageviews", 5).replace("CONNECTOR gen", "CONNECTOR IF NOT EXISTS gen"))
    assert again == {"@type": "warning_entity", "statementText": again["statementText"],
                     "message": "Connector GEN already exists", "warnings": []}
    with pytest.raises(KsqlException, match="Connector GEN already exists"):
        engine.execute(datagen("gen", "pv", "pageviews", 5))
    dropped = entity(engine, "DROP CONNECTOR gen;")
    assert dropped == {"@type": "drop_connector", "statementText": "DROP CONNECTOR gen",
                       "connectorName": "GEN", "warnings": []}
    assert entity(engine, "DROP CONNECTOR IF EXISTS gen;")["message"] == "Connector 'GEN' does not exist."
    with pytest.raises(KsqlException, match="Failed to drop connector.*not found"):
        engine.execute("DROP CONNECTOR gen;")
    assert entity(engine, "SHOW CONNECTORS;")["connectors"] == []


def test_plugins_list_the_embedded_classes(make_engine):
    plugins = entity(make_engine(), "SHOW CONNECTOR PLUGINS;")
    assert plugins["@type"] == "connector_plugins_list"
    classes = {p["className"]: p["type"] for p in plugins["connectorsPlugins"]}
    assert classes["io.confluent.kafka.connect.datagen.DatagenConnector"] == "source"
    assert classes["io.confluent.connect.jdbc.JdbcSinkConnector"] == "sink"


def test_an_unsupported_class_is_refused_naming_the_embedded_ones(make_engine):
    engine = make_engine()
    with pytest.raises(KsqlException) as error:
        engine.execute("CREATE SOURCE CONNECTOR cdc WITH ('connector.class'='io.debezium.connector.mysql.MySqlConnector');")
    assert "io.debezium.connector.mysql.MySqlConnector" in error.value.message
    assert "io.confluent.kafka.connect.datagen.DatagenConnector" in error.value.message
    assert "ksql.connect.url" in error.value.message
    with pytest.raises(KsqlException, match="contains no connector type"):
        engine.execute("CREATE SOURCE CONNECTOR x WITH ('kafka.topic'='t');")
    with pytest.raises(KsqlException, match="is a source connector: use CREATE SOURCE CONNECTOR"):
        engine.execute(datagen("gen", "pv", "pageviews", 5).replace("SOURCE", "SINK", 1))
    assert entity(engine, "SHOW CONNECTORS;")["connectors"] == []


def test_connectors_survive_a_restart(make_engine):
    engine = make_engine()
    engine.execute(datagen("kept", "a", "users", 5))
    engine.execute(datagen("gone", "b", "users", 5))
    engine.execute("DROP CONNECTOR gone;")
    engine = restart(engine, make_engine)
    assert [c["name"] for c in entity(engine, "SHOW CONNECTORS;")["connectors"]] == ["KEPT"]


def test_a_failing_connector_reports_failed_with_its_error_and_the_engine_runs_on(make_engine, tmp_path):
    engine = make_engine()
    engine.execute("CREATE TABLE t (id STRING PRIMARY KEY, v INT) WITH (kafka_topic='t', value_format='JSON', partitions=1);")
    engine.execute("INSERT INTO t (id, v) VALUES ('a', 1);")
    (tmp_path / "not-a-db").mkdir()
    engine.execute(f"CREATE SINK CONNECTOR bad WITH ('connector.class'='JdbcSinkConnector', "
                   f"'connection.url'='jdbc:sqlite:{tmp_path / 'not-a-db'}', 'topics'='t', 'auto.create'='true');")
    engine.execute("CREATE TABLE copy AS SELECT id, v FROM t;", properties={"auto.offset.reset": "earliest"})
    engine.run_until_idle(timeout=10)
    status = entity(engine, "DESCRIBE CONNECTOR bad;")["status"]
    assert status["tasks"][0]["state"] == "FAILED"
    assert "unable to open database file" in status["tasks"][0]["trace"]
    assert entity(engine, "SHOW CONNECTORS;")["connectors"][0]["state"] == "WARNING (0/1 tasks RUNNING)"
    assert engine.pull_query("SELECT * FROM copy;").rows == [["a", 1]]


def test_secrets_are_masked_in_what_is_returned(make_engine, tmp_path):
    created = entity(make_engine(), f"CREATE SINK CONNECTOR s WITH ('connector.class'='JdbcSinkConnector', "
                                    f"'connection.url'='jdbc:sqlite:{tmp_path / 'x.db'}', 'topics'='t', "
                                    f"'connection.password'='hunter2');")
    assert "hunter2" not in created["statementText"]
    assert created["info"]["config"]["connection.password"] == "*********"


def test_names_with_any_character_are_kept_as_quoted(make_engine):
    engine = make_engine()
    created = entity(engine, datagen("`my-gen`", "pv", "pageviews", 1))
    assert created["info"]["name"] == "my-gen"
    assert entity(engine, "DESCRIBE CONNECTOR `my-gen`;")["topics"] == ["pv"]
