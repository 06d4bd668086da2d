"""Many INSERT VALUES statements in one /ksql request, against a real server: every statement
still answers with its own entity, SET still splits the request, and a failure reports the
statements before it; a table push query's tombstone carries its key."""
from __future__ import annotations

from tests.shell.conftest import STREAM_DDL, ksql

EARLIEST = {"ksql.streams.auto.offset.reset": "earliest"}


def _pages(http, limit: int) -> list:
    response = http.post("/query", json={"ksql": f"SELECT id, page FROM pageviews EMIT CHANGES LIMIT {limit};",
                                          "streamsProperties": EARLIEST})
    return [element["row"]["columns"] for element in response.json() if "row" in element]


def test_one_request_of_many_inserts_answers_each_and_writes_them_in_order(http):
    ksql(http, STREAM_DDL)
    sql = "".join(f"INSERT INTO pageviews (id, page, ms) VALUES ({i}, 'p{i}', {i});" for i in range(20))
    response = ksql(http, sql)
    assert response.status_code == 200
    entities = response.json()
    assert [e["statementText"] for e in entities] == \
        [f"INSERT INTO pageviews (id, page, ms) VALUES ({i}, 'p{i}', {i});" for i in range(20)]
    assert _pages(http, 20) == [[i, f"p{i}"] for i in range(20)]


def test_a_failed_insert_in_a_request_reports_the_ones_before_it(http):
    ksql(http, STREAM_DDL)
    response = ksql(http, "INSERT INTO pageviews (id, page) VALUES (1, 'a');"
                          "SET 'auto.offset.reset'='earliest';"
                          "INSERT INTO pageviews (id, page) VALUES (2, 'b');"
                          "INSERT INTO pageviews (id, nope) VALUES (3, 'c');"
                          "INSERT INTO pageviews (id, page) VALUES (4, 'd');")
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Column name NOPE does not exist."
    assert body["statementText"].startswith("INSERT INTO pageviews (id, nope) VALUES (3, 'c')")
    assert [e["statementText"] for e in body["entities"]] == [
        "INSERT INTO pageviews (id, page) VALUES (1, 'a');", "INSERT INTO pageviews (id, page) VALUES (2, 'b');"]
    assert _pages(http, 2) == [[1, "a"], [2, "b"]]


def test_a_table_push_query_shows_a_tombstone_with_its_key(server, http, engine):
    from pyksqlite.facade.engine import TestRecord
    ksql(http, "CREATE TABLE t (k INT PRIMARY KEY, id INT) WITH (kafka_topic='t', partitions=1, value_format='JSON');")
    engine.produce_test_records([TestRecord("t", 10, {"id": 110}, 1), TestRecord("t", 10, None, 2)])
    response = http.post("/query", json={"ksql": "SELECT * FROM t EMIT CHANGES LIMIT 2;",
                                          "streamsProperties": EARLIEST})
    rows = [element["row"] for element in response.json() if "row" in element]
    assert rows == [{"columns": [10, 110]}, {"columns": [10, None], "tombstone": True}]
