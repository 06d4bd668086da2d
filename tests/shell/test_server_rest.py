"""The REST API against a real server on a loopback port, with httpx as the client."""
from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.shell.conftest import STREAM_DDL, ksql

EARLIEST = {"ksql.streams.auto.offset.reset": "earliest"}


def test_info_health_status_and_not_found(http):
    info = http.get("/info")
    assert info.status_code == 200
    assert info.headers["content-type"].startswith("application/vnd.ksql.v1+json")
    assert set(info.json()["KsqlServerInfo"]) >= {"version", "kafkaClusterId", "ksqlServiceId", "serverStatus"}
    assert http.get("/healthcheck").json()["isHealthy"] is True
    missing = http.get("/no/such/path")
    assert missing.status_code == 404 and missing.text == "Not Found"
    assert http.get("/", follow_redirects=False).status_code == 307


def test_ksql_ddl_insert_and_entities(http):
    response = ksql(http, STREAM_DDL + " SHOW STREAMS; DESCRIBE pageviews;")
    assert response.status_code == 200
    created, streams, description = response.json()
    assert created["@type"] == "currentStatus"
    assert created["commandStatus"] == {"status": "SUCCESS", "message": "Stream created"}
    assert created["commandId"] == "stream/`PAGEVIEWS`/create"
    assert created["statementText"].endswith(";")
    assert streams["streams"][0]["name"] == "PAGEVIEWS"
    assert description["sourceDescription"]["name"] == "PAGEVIEWS"
    assert http.get("/status").json()["stream/`PAGEVIEWS`/create"] == "SUCCESS"
    assert http.get("/status/stream/PAGEVIEWS/create").json()["status"] == "SUCCESS"
    assert ksql(http, "INSERT INTO pageviews (id, page, ms) VALUES (1, 'home', 10);").status_code == 200


def test_ksql_errors_have_ksqldb_shape(http):
    ksql(http, STREAM_DDL)
    failed = ksql(http, "CREATE STREAM other (id INT KEY) WITH (kafka_topic='o', partitions=1, value_format='JSON');"
                        "CREATE STREAM bad (x INT) WITH (value_format='JSON');")
    assert failed.status_code == 400
    body = failed.json()
    assert body["@type"] == "statement_error" and body["error_code"] == 40001
    assert "KAFKA_TOPIC" in body["message"]
    assert body["statementText"].startswith("CREATE STREAM bad")
    assert [e["commandStatus"]["message"] for e in body["entities"]] == ["Stream created"]
    query = ksql(http, "SELECT * FROM pageviews;")
    assert query.status_code == 400 and query.json()["error_code"] == 40002
    assert http.post("/ksql", content=b"{not json").json()["error_code"] == 40000


def test_query_push_with_limit_streams_one_element_per_line(http):
    ksql(http, STREAM_DDL)
    ksql(http, "INSERT INTO pageviews (id, page, ms) VALUES (1, 'home', 10);"
               "INSERT INTO pageviews (id, page, ms) VALUES (2, 'cart', 20);")
    response = http.post("/query", json={"ksql": "SELECT * FROM pageviews EMIT CHANGES LIMIT 2;",
                                          "streamsProperties": EARLIEST})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.ksql.v1+json"
    assert response.headers.get("transfer-encoding") == "chunked"
    lines = response.text.split("\n")
    assert lines[0].startswith('[{"header":{"queryId":"transient_PAGEVIEWS_')
    assert lines[0].endswith('"schema":"`ID` INTEGER, `PAGE` STRING, `MS` BIGINT"}},')
    assert lines[1:] == ['{"row":{"columns":[1,"home",10]}},', '{"row":{"columns":[2,"cart",20]}},',
                         '{"finalMessage":"Limit Reached"}]', ""]
    assert json.loads(response.text)[-1] == {"finalMessage": "Limit Reached"}


def test_query_push_streams_live_rows(server, http):
    ksql(http, STREAM_DDL)
    received, ready = [], threading.Event()

    def consume():
        with httpx.stream("POST", server.url + "/query", timeout=30,
                          json={"ksql": "SELECT page FROM pageviews EMIT CHANGES LIMIT 3;"}) as stream:
            for line in stream.iter_lines():
                ready.set()
                received.append(line)

    reader = threading.Thread(target=consume)
    reader.start()
    assert ready.wait(10)
    for i in range(3):
        ksql(http, f"INSERT INTO pageviews (id, page, ms) VALUES ({i}, 'p{i}', {i});")
        time.sleep(0.05)
    reader.join(20)
    assert received[1:] == ['{"row":{"columns":["p0"]}},', '{"row":{"columns":["p1"]}},',
                            '{"row":{"columns":["p2"]}},', '{"finalMessage":"Limit Reached"}]']


def test_pull_query_marks_keys_and_has_no_final_message(http):
    ksql(http, "CREATE TABLE users (id INT PRIMARY KEY, name STRING) "
               "WITH (kafka_topic='users', partitions=1, value_format='JSON');"
               "CREATE TABLE users_view AS SELECT * FROM users;"   # a plain CREATE TABLE isn't queryable
               "INSERT INTO users (id, name) VALUES (1, 'ann'); INSERT INTO users (id, name) VALUES (2, 'bob');")
    deadline = time.monotonic() + 10
    while True:   # the CTAS materializes the rows in the background
        response = http.post("/query", json={"ksql": "SELECT * FROM users_view WHERE id = 2;"})
        lines = response.text.split("\n")
        if "\"row\"" in response.text or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert '"schema":"`ID` INTEGER KEY, `NAME` STRING"' in lines[0]
    assert lines[1:] == ['{"row":{"columns":[2,"bob"]}}]', ""]


def test_query_stream_media_types(http):
    ksql(http, STREAM_DDL + "INSERT INTO pageviews (id, page, ms) VALUES (7, 'x', 1);")
    sql = {"sql": "SELECT id, page FROM pageviews EMIT CHANGES LIMIT 1;", "properties": EARLIEST}
    delimited = http.post("/query-stream", json=sql)
    assert delimited.headers["content-type"] == "application/vnd.ksqlapi.delimited.v1"
    meta, row = [json.loads(line) for line in delimited.text.splitlines()]
    assert meta["columnNames"] == ["ID", "PAGE"] and meta["columnTypes"] == ["INTEGER", "STRING"]
    assert row == [7, "x"]
    as_json = http.post("/query-stream", json=sql, headers={"Accept": "application/json"}).json()
    assert as_json[1] == [7, "x"] and as_json[0]["queryId"].startswith("transient_")
    v1 = http.post("/query-stream", json=sql, headers={"Accept": "application/vnd.ksql.v1+json"})
    assert json.loads(v1.text)[1] == {"row": {"columns": [7, "x"]}}
    preferred = http.post("/query-stream", json=sql,
                          headers={"Accept": "application/json;q=0.5, application/vnd.ksqlapi.delimited.v1"})
    assert preferred.headers["content-type"] == "application/vnd.ksqlapi.delimited.v1"


def test_http2_query_stream_and_inserts_stream(server, http):
    ksql(http, STREAM_DDL)
    with httpx.Client(base_url=server.url, http1=False, http2=True, timeout=30) as h2:
        acks = h2.post("/inserts-stream", content=b'{"target":"pageviews"}\n'
                       b'{"ID":1,"PAGE":"a","MS":5}\n{"id":2,"page":"b"}\n{"nope":1}\n')
        assert acks.http_version == "HTTP/2"
        assert [json.loads(line) for line in acks.text.splitlines()][:2] == [
            {"status": "ok", "seq": 0}, {"status": "ok", "seq": 1}]
        assert json.loads(acks.text.splitlines()[2])["status"] == "error"
        rows = h2.post("/query-stream", json={"sql": "SELECT * FROM pageviews EMIT CHANGES LIMIT 2;",
                                              "properties": EARLIEST})
        assert rows.http_version == "HTTP/2"
        assert [json.loads(line) for line in rows.text.splitlines()[1:]] == [[1, "a", 5], [2, "b", None]]
    refused = http.post("/inserts-stream", content=b'{"target":"pageviews"}\n')
    assert refused.status_code == 400 and refused.json()["error_code"] == 40004


def test_close_query_ends_a_push_query(server, http):
    ksql(http, STREAM_DDL)
    with httpx.Client(base_url=server.url, timeout=30) as streamer:
        with streamer.stream("POST", "/query-stream", json={"sql": "SELECT * FROM pageviews EMIT CHANGES;"}) as stream:
            lines = stream.iter_lines()
            query_id = json.loads(next(lines))["queryId"]
            assert http.post("/close-query", json={"queryId": query_id}).status_code == 200
            assert list(lines) == []
    unknown = http.post("/close-query", json={"queryId": "nope"})
    assert unknown.status_code == 400 and "No query with id" in unknown.json()["message"]


def test_basic_auth(engine, tmp_path):
    from pyksqlite.shell.server import ServerThread, load_auth_file
    auth_file = tmp_path / "passwords"
    auth_file.write_text("# users\nalice: secret,admin\n")
    with ServerThread(engine, port=0, auth=load_auth_file(auth_file)) as server:
        refused = httpx.get(server.url + "/info")
        assert refused.status_code == 401 and refused.json()["error_code"] == 40100
        assert "Basic" in refused.headers["www-authenticate"]
        assert httpx.get(server.url + "/info", auth=("alice", "wrong")).status_code == 401
        assert httpx.get(server.url + "/info", auth=("alice", "secret")).status_code == 200


def test_persistent_queries_survive_a_restart(tmp_path):
    from pyksqlite.facade.engine import Engine
    from pyksqlite.shell.server import ServerThread
    data = tmp_path / "data"
    engine = Engine(data)
    with ServerThread(engine, port=0) as server:
        ksql(httpx.Client(base_url=server.url), STREAM_DDL +
             "CREATE STREAM homes AS SELECT * FROM pageviews WHERE page = 'home';")
    engine.close()
    engine = Engine(data)
    try:
        with ServerThread(engine, port=0) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            queries = ksql(http, "SHOW QUERIES;").json()[0]["queries"]
            assert [q["id"] for q in queries] == ["CSAS_HOMES_0"]
            ksql(http, "INSERT INTO pageviews (id, page, ms) VALUES (1, 'home', 1);"
                       "INSERT INTO pageviews (id, page, ms) VALUES (2, 'cart', 2);")
            rows = http.post("/query", json={"ksql": "SELECT * FROM homes EMIT CHANGES LIMIT 1;",
                                             "streamsProperties": EARLIEST})
            assert '{"row":{"columns":[1,"home",1]}},' in rows.text.splitlines()
    finally:
        engine.close()
