"""HTTP Basic authentication as ksqlDB's `authentication.method=BASIC`, against a real server:
every path needs credentials but the health checks; a refusal is 401 with a Basic challenge and
ksqlDB's error body; users come from a JAAS/Jetty password file."""
from __future__ import annotations

import asyncio
import base64
import hashlib

import httpx
import pytest

from pyksqlite.shell.server_process import ServerThread
from pyksqlite.shell.server_auth import (AuthConfigError, BasicAuthMiddleware, auth_settings, load_auth_file)


@pytest.fixture
def users(tmp_path):
    path = tmp_path / "passwords"
    path.write_text("# ksqlDB's JAAS property file\n"
                    "alice: secret,admin\n"
                    f"bob: MD5:{hashlib.md5(b'hunter2').hexdigest()},developer\n"
                    "carol : PLAIN:colon:in:password , user\n")
    return load_auth_file(path)


@pytest.fixture
def secured(engine, users):
    with ServerThread(engine, port=0, auth=users) as server:
        yield server


PROTECTED = [("POST", "/ksql"), ("POST", "/query"), ("POST", "/query-stream"), ("POST", "/close-query"),
             ("GET", "/info"), ("GET", "/"), ("GET", "/status"), ("GET", "/status/stream/X/create"),
             ("GET", "/is_valid_property/x"), ("GET", "/schema-registry/subjects"), ("GET", "/no/such/path"),
             ("GET", "/ws/query")]


def _refused(response, realm: str = "KsqlServer") -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Basic realm="{realm}"'
    assert response.json() == {"@type": "generic_error", "error_code": 40100, "message": "Unauthorized"}


@pytest.mark.parametrize("method,path", PROTECTED)
def test_every_path_needs_credentials(secured, method, path):
    _refused(httpx.request(method, secured.url + path, json={"ksql": "SHOW STREAMS;"}))
    _refused(httpx.request(method, secured.url + path, json={}, auth=("alice", "wrong")))


def test_inserts_stream_over_http2_needs_credentials(secured):
    with httpx.Client(base_url=secured.url, http1=False, http2=True) as h2:
        _refused(h2.post("/inserts-stream", content=b'{"target": "x"}\n'))


@pytest.mark.parametrize("path", ["/healthcheck", "/chc/live", "/chc/ready"])
def test_health_checks_stay_open(secured, path):
    assert httpx.get(secured.url + path).status_code == 200


@pytest.mark.parametrize("user,password", [("alice", "secret"), ("bob", "hunter2"), ("carol", "colon:in:password")])
def test_users_of_the_file_get_in(secured, user, password):
    assert httpx.get(secured.url + "/info", auth=(user, password)).status_code == 200
    listed = httpx.post(secured.url + "/ksql", json={"ksql": "SHOW STREAMS;"}, auth=(user, password))
    assert listed.status_code == 200
    assert httpx.get(secured.url + "/schema-registry/subjects", auth=(user, password)).status_code == 200


@pytest.mark.parametrize("header", ["Basic", "Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode(),
                                    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "Bearer abc",
                                    "Basic " + base64.b64encode(b"mallory:secret").decode(), "x" * 10000])
def test_malformed_or_unknown_credentials_are_refused(secured, header):
    _refused(httpx.get(secured.url + "/info", headers={"Authorization": header}))


def test_realm_roles_and_skipped_paths_follow_ksqldb_properties(engine, users):
    settings = auth_settings(users, {"authentication.realm": "KsqlServer-Props",
                                     "authentication.roles": "admin,user",
                                     "authentication.skip.paths": "/info"})
    with ServerThread(engine, port=0, auth=settings) as server:
        assert httpx.get(server.url + "/info").status_code == 200
        _refused(httpx.get(server.url + "/status"), realm="KsqlServer-Props")
        assert httpx.get(server.url + "/status", auth=("alice", "secret")).status_code == 200
        forbidden = httpx.get(server.url + "/status", auth=("bob", "hunter2"))     # a developer only
        assert forbidden.status_code == 403 and forbidden.json()["error_code"] == 40300


def test_a_websocket_is_closed_without_credentials(users):
    """ksqlDB serves queries over /ws too; none reaches the app unauthenticated."""
    reached, sent = [], []

    async def app(scope, receive, send):
        reached.append(scope["path"])

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    middleware = BasicAuthMiddleware(app, auth_settings(users, {}))
    asyncio.run(middleware({"type": "websocket", "path": "/ws/query", "headers": []}, receive, send))
    assert reached == [] and sent == [{"type": "websocket.close", "code": 1008}]
    good = [(b"authorization", b"Basic " + base64.b64encode(b"alice:secret"))]
    asyncio.run(middleware({"type": "websocket", "path": "/ws/query", "headers": good}, receive, send))
    assert reached == ["/ws/query"]


@pytest.mark.parametrize("text,phrase", [("alice: CRYPT:abc\n", "not supported"), ("alice: OBF:1v2j\n", "not supported"),
                                         ("# nobody\n", "names no user"), ("just a line\n", "line 1")])
def test_an_unusable_auth_file_is_refused(tmp_path, text, phrase):
    path = tmp_path / "passwords"
    path.write_text(text)
    with pytest.raises(AuthConfigError, match=phrase):
        load_auth_file(path)


def test_authentication_properties_must_agree_with_the_auth_file(users):
    assert auth_settings(None, {}) is None
    with pytest.raises(AuthConfigError, match="needs --auth-file"):
        auth_settings(None, {"authentication.method": "BASIC"})
    with pytest.raises(AuthConfigError, match="not supported"):
        auth_settings(users, {"authentication.method": "JWT"})
    with pytest.raises(AuthConfigError, match="NONE"):
        auth_settings(users, {"authentication.method": "NONE"})
