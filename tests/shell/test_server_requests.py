"""Bounded and checked requests, against a real server on a loopback port: a request over a limit
or with a wrong JSON type anywhere is a 400 with ksqlDB's generic_error body, never a 500; an
error no handler expected is a 500 that names a log reference, not its internals."""
from __future__ import annotations

import json
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from pyksqlite.shell.server_process import ServerThread
from pyksqlite.shell.server_requests import ErrorGuard, starlette_error_handler
from tests.shell.conftest import STREAM_DDL, ksql

KSQL_ENDPOINTS = [("/ksql", "ksql", "streamsProperties"), ("/query", "ksql", "streamsProperties"),
                  ("/query-stream", "sql", "properties")]
WRONG = [None, 1, 1.5, True, [], ["SHOW STREAMS;"], {"a": 1}]


def _generic_400(response, *phrases: str) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["@type"] == "generic_error" and body["error_code"] == 40000
    for phrase in phrases:
        assert phrase in body["message"]
    return body


@pytest.mark.parametrize("path,text,properties", KSQL_ENDPOINTS)
@pytest.mark.parametrize("wrong", WRONG)
def test_wrong_json_types_are_bad_requests(http, path, text, properties, wrong):
    good = {text: "SHOW STREAMS;" if path == "/ksql" else "SELECT * FROM pageviews;"}
    if wrong is not None:
        _generic_400(http.post(path, json={**good, text: wrong}), text)
    if not isinstance(wrong, dict) and wrong is not None:
        _generic_400(http.post(path, json={**good, properties: wrong}), properties)
        _generic_400(http.post(path, json={**good, "sessionVariables": wrong}), "sessionVariables")
        _generic_400(http.post(path, json={**good, "requestProperties": wrong}), "requestProperties")
    if not isinstance(wrong, (int, type(None))) or isinstance(wrong, bool):
        _generic_400(http.post(path, json={**good, "commandSequenceNumber": wrong}), "commandSequenceNumber")
    _generic_400(http.post(path, json={**good, properties: {"auto.offset.reset": {"a": 1}}}), "auto.offset.reset")
    _generic_400(http.post(path, json={**good, "sessionVariables": {"v": [1]}}), "'v'")


@pytest.mark.parametrize("body", [b"[]", b"1", b'"x"', b"{", b"\xff\xfe", b'{"ksql": "a",}'])
def test_bodies_that_are_not_a_json_object_are_bad_requests(http, body):
    for path, _, _ in KSQL_ENDPOINTS + [("/close-query", "", "")]:
        _generic_400(http.post(path, content=body))


def test_other_endpoints_check_their_fields(http):
    _generic_400(http.post("/close-query", json={"queryId": 5}), "queryId")
    _generic_400(http.post("/close-query", json={"queryId": None}), "queryId")
    assert http.get("/status/stream/%60x%27%3B/create").status_code == 404
    assert http.get("/is_valid_property/auto.offset.reset").json() is True
    _generic_400(http.get("/is_valid_property/ksql.service.id"), "Cannot override")


@pytest.mark.parametrize("name,value,phrase", [
    ("ksql.service.id", "other", "Cannot override"),
    ("ksql.extension.dir", "/tmp", "Cannot override"),
    ("ksqlite.checkpoint.interval.ms", "1", "Cannot override"),
    ("ksql.streams.auto.offset.reset", "sideways", "one of: earliest, latest, none"),
    ("cache.max.bytes.buffering", "lots", "LONG"),
    ("ksql.query.pull.table.scan.enabled", "maybe", "true or false"),
])
def test_property_overrides_are_checked(http, name, value, phrase):
    _generic_400(ksql(http, "SHOW STREAMS;", streamsProperties={name: value}), phrase)
    _generic_400(ksql(http, f"SET '{name}'='{value}'; SHOW STREAMS;"), phrase)


def test_a_set_after_a_comment_still_lasts_for_its_request_only(http, engine):
    response = ksql(http, "-- a comment\nSET 'auto.offset.reset'='earliest'; SHOW STREAMS;")
    assert response.status_code == 200
    assert "auto.offset.reset" not in engine.properties


def test_statements_over_a_limit_are_bad_requests(http):
    ksql(http, STREAM_DDL)
    chain = " + ".join(["id"] * 1000)
    _generic_400(ksql(http, f"CREATE STREAM deep AS SELECT {chain} AS y FROM pageviews;"),
                 "ksqlite.limits.expression.depth")
    _generic_400(http.post("/query", json={"ksql": f"SELECT {chain} FROM pageviews EMIT CHANGES;"}),
                 "ksqlite.limits.expression.depth")
    items = ", ".join(str(i) for i in range(10_001))
    _generic_400(http.post("/query-stream", json={"sql": f"SELECT * FROM pageviews WHERE id IN ({items});"}),
                 "ksqlite.limits.expression.list.items")
    long_text = "SELECT '" + "x" * 1_100_000 + "' FROM pageviews;"
    _generic_400(http.post("/query", json={"ksql": long_text}), "ksqlite.limits.statement.chars")
    _generic_400(ksql(http, "SHOW STREAMS; " + long_text.replace("SELECT", "INSERT INTO pageviews (page) VALUES (")
                      .replace(" FROM pageviews", ")")), "ksqlite.limits.statement.chars")


def test_the_limits_are_server_properties(tmp_path):
    from pyksqlite.facade.engine import Engine
    engine = Engine(tmp_path / "data", properties={"ksqlite.limits.expression.depth": "3",
                                                   "ksqlite.limits.request.bytes": "2000"})
    try:
        with ServerThread(engine, port=0) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            ksql(http, STREAM_DDL)
            assert ksql(http, "CREATE STREAM ok AS SELECT id, id + 1 AS y FROM pageviews;").status_code == 200
            _generic_400(ksql(http, "CREATE STREAM no AS SELECT id, id + 1 + 1 + 1 + 1 AS y FROM pageviews;"),
                         "limit: 4 > 3")
            _generic_400(ksql(http, "SHOW STREAMS; " * 200), "2000 bytes", "ksqlite.limits.request.bytes")
    finally:
        engine.close()


def test_a_body_over_the_limit_is_refused_whether_its_length_is_declared_or_not(tmp_path):
    from pyksqlite.facade.engine import Engine
    engine = Engine(tmp_path / "data", properties={"ksqlite.limits.request.bytes": "10000"})
    try:
        with ServerThread(engine, port=0) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            body = json.dumps({"ksql": "SHOW STREAMS;" * 2000}).encode()
            _generic_400(http.post("/ksql", content=body), "10000 bytes")      # Content-Length
            chunks = (body[i:i + 1000] for i in range(0, len(body), 1000))
            _generic_400(http.post("/ksql", content=chunks), "10000 bytes")    # chunked, no length
            assert ksql(http, "SHOW STREAMS;").status_code == 200
    finally:
        engine.close()


def test_an_unexpected_error_is_a_500_without_internals_and_is_logged(caplog):
    async def broken(request):
        raise RuntimeError("secret /srv/data/x.py: SELECT struct_extract(...)")

    app = ErrorGuard(Starlette(routes=[Route("/boom", broken)],
                               exception_handlers={Exception: starlette_error_handler}))
    transport = httpx.ASGITransport(app=app)

    async def call():
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/boom")

    import asyncio
    with caplog.at_level(logging.ERROR, logger="ksqlite.server"):
        response = asyncio.run(call())
    assert response.status_code == 500
    body = response.json()
    assert body["@type"] == "generic_error" and body["error_code"] == 50000
    assert "secret" not in response.text and "struct_extract" not in response.text
    reference = body["message"].rsplit(" ", 1)[-1].rstrip(")")
    assert any(reference in record.getMessage() and record.exc_info for record in caplog.records)


def test_inserts_stream_rows_of_the_wrong_kind_get_error_acks(server, http):
    ksql(http, "CREATE STREAM items (id INT KEY, tags ARRAY<STRING>, attrs MAP<STRING, INT>, "
               "`odd``name` STRING) WITH (kafka_topic='items', partitions=1, value_format='JSON');")
    rows = [{"ID": 1, "TAGS": ["a"], "ATTRS": {"k": 1}, "odd`name": "x"},   # 0 ok
            {"ID": {"nested": 1}},                                           # 1 an object for INT
            {"TAGS": "not an array"},                                        # 2
            {"ATTRS": [1, 2]},                                               # 3
            {"ROWTIME": "yesterday"},                                        # 4
            [1, 2],                                                          # 5 not an object
            {"ID": 2}]                                                       # 6 ok
    lines = [json.dumps({"target": "items"}).encode()] + [json.dumps(r).encode() for r in rows]
    lines.insert(6, b"\xff\xfe not utf-8")                                  # 5: bad bytes, 6: [1, 2], 7: ok
    with httpx.Client(base_url=server.url, http1=False, http2=True, timeout=30) as h2:
        acks = [json.loads(line) for line in h2.post("/inserts-stream", content=b"\n".join(lines) + b"\n")
                .text.splitlines()]
        assert [a["seq"] for a in acks] == list(range(8))
        assert [a["status"] for a in acks] == ["ok"] + ["error"] * 6 + ["ok"]
        assert all("Error" not in a.get("message", "") and "object at" not in a.get("message", "") for a in acks)
        for header in (b'{"target": 5}', b'{"target": "items", "properties": []}', b"[]", b"\xff"):
            _generic_400(h2.post("/inserts-stream", content=header + b"\n"))
    pushed = http.post("/query", json={"ksql": "SELECT * FROM items EMIT CHANGES LIMIT 2;",
                                       "streamsProperties": {"auto.offset.reset": "earliest"}})
    assert [e["row"]["columns"] for e in pushed.json() if "row" in e] == [[1, ["a"], {"k": 1}, "x"],
                                                                          [2, None, None, None]]


def test_an_inserts_stream_line_over_the_limit_gets_an_error_ack(tmp_path):
    from pyksqlite.facade.engine import Engine
    engine = Engine(tmp_path / "data", properties={"ksqlite.limits.request.bytes": "1000"})
    try:
        with ServerThread(engine, port=0) as server, httpx.Client(base_url=server.url, timeout=30) as http, \
                httpx.Client(base_url=server.url, http1=False, http2=True, timeout=30) as h2:
            ksql(http, STREAM_DDL)
            body = b'{"target": "pageviews"}\n{"PAGE": "' + b"x" * 5000 + b'"}\n{"ID": 1}\n'
            acks = [json.loads(line) for line in h2.post("/inserts-stream", content=body).text.splitlines()]
            assert [(a["seq"], a["status"]) for a in acks] == [(0, "error"), (1, "ok")]
            assert "size limit" in acks[0]["message"]
    finally:
        engine.close()
