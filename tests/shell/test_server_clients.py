"""Clients the server must serve: the PyPI `ksql` client, 50 concurrent push clients, and a client
that stops reading (it must never stall the others)."""
from __future__ import annotations

import collections
import collections.abc
import json
import socket
import threading
import time

import httpx
import pytest

from tests.shell.conftest import STREAM_DDL, ksql


def _import_ksql_python():
    # ksql-python 0.10.2 imports `hyper`, which uses the collections ABC aliases removed in
    # Python 3.10; restoring the aliases lets its HTTP/1.1 code (all but query2/inserts_stream) run.
    for name in ("Iterable", "Mapping", "MutableMapping", "MutableSet", "Callable"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    return pytest.importorskip("ksql")


def test_ksql_python_client(server):
    ksql_python = _import_ksql_python()
    client = ksql_python.KSQLAPI(server.url)
    assert client.get_ksql_version()
    client.ksql(STREAM_DDL)
    assert ksql_python.utils.get_all_streams(client) == ["PAGEVIEWS"]
    client.ksql("INSERT INTO pageviews (id, page, ms) VALUES (1, 'home', 10)")
    client.ksql("INSERT INTO pageviews (id, page, ms) VALUES (2, 'cart', 20)")
    rows = list(client.query("SELECT * FROM pageviews EMIT CHANGES LIMIT 2",
                             stream_properties={"ksql.streams.auto.offset.reset": "earliest"},
                             return_objects=True))
    assert rows == [{"ID": 1, "PAGE": "home", "MS": 10}, {"ID": 2, "PAGE": "cart", "MS": 20}]
    client.ksql("CREATE TABLE users (id INT PRIMARY KEY, name STRING) "
                "WITH (kafka_topic='users', partitions=1, value_format='JSON')")
    client.ksql("CREATE TABLE users_view AS SELECT * FROM users")   # a plain CREATE TABLE isn't queryable
    client.ksql("INSERT INTO users (id, name) VALUES (7, 'ann')")
    deadline = time.monotonic() + 10
    while True:   # the CTAS materializes the row in the background
        rows = list(client.query("SELECT * FROM users_view WHERE id = 7", return_objects=True))
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert rows == [{"ID": 7, "NAME": "ann"}]
    with pytest.raises(ksql_python.errors.KSQLError) as failure:
        client.ksql("CREATE STREAM broken (x INT) WITH (value_format='JSON')")
    assert failure.value.error_code == 40001
    assert client.close_query("transient_nope") is False
    description = client.ksql("DESCRIBE pageviews EXTENDED")[0]["sourceDescription"]
    assert description["name"] == "PAGEVIEWS" and description["readQueries"] == []
    client.ksql("CREATE TABLE views_per_second AS SELECT page, COUNT(*) AS n FROM pageviews "
                "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY page",   # over the rows inserted before
                stream_properties={"ksql.streams.auto.offset.reset": "earliest"})
    deadline = time.monotonic() + 10
    while True:   # a pull query on the windowed aggregation
        rows = list(client.query("SELECT page, n FROM views_per_second WHERE page = 'home'",
                                 return_objects=True))
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert rows == [{"PAGE": "home", "N": 1}]


def test_fifty_concurrent_push_clients(server, http):
    ksql(http, STREAM_DDL)
    results: dict[int, list] = {}
    started = threading.Barrier(51, timeout=30)

    def consume(index: int):
        with httpx.Client(base_url=server.url, timeout=60) as client:
            with client.stream("POST", "/query-stream",
                               json={"sql": "SELECT id FROM pageviews EMIT CHANGES LIMIT 5;"}) as stream:
                lines = stream.iter_lines()
                next(lines)
                started.wait()
                results[index] = [json.loads(line) for line in lines]

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    started.wait()
    ksql(http, "".join(f"INSERT INTO pageviews (id, page, ms) VALUES ({i}, 'p', {i});" for i in range(5)))
    for thread in threads:
        thread.join(60)
    assert len(results) == 50
    assert all(rows == [[0], [1], [2], [3], [4]] for rows in results.values())


def test_a_client_that_stops_reading_never_stalls_others(server, http):
    ksql(http, STREAM_DDL)
    slow = socket.create_connection((server.host, server.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    body = json.dumps({"sql": "SELECT * FROM pageviews EMIT CHANGES;"}).encode()
    slow.sendall(b"POST /query-stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(0.5)  # the slow query is running; it is never read from again
    assert len(server.app.state.ksql.push_queries) == 1
    big = "x" * 150_000
    received = []

    def fast_consumer():
        with httpx.stream("POST", server.url + "/query-stream", timeout=60,
                          json={"sql": "SELECT id FROM pageviews EMIT CHANGES LIMIT 100;"}) as stream:
            for line in stream.iter_lines():
                received.append((time.monotonic(), line))

    fast = threading.Thread(target=fast_consumer)
    fast.start()
    time.sleep(0.5)
    for batch in range(4):  # 15 MB in all: far more than the slow client's socket buffers hold
        ksql(http, "".join(f"INSERT INTO pageviews (id, page, ms) VALUES ({batch * 25 + i}, '{big}', 0);"
                           for i in range(25)))
    inserted = time.monotonic()
    fast.join(60)
    assert len(received) == 101, "the fast client got every row"
    assert received[-1][0] - inserted < 5, "and kept pace with the inserts"
    deadline = time.monotonic() + 15
    while server.app.state.ksql.push_queries and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not server.app.state.ksql.push_queries, "the slow client's query was closed"
    slow.close()
