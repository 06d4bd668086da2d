"""A Kafka Connect worker's REST API (ksqlDB's external connect mode, `ksql.connect.url`), through
httpx. Errors come back as `ConnectError` with the worker's status and message; a worker that
does not answer is a 503 with the reason, never a hang (`ksql.connect.request.timeout.ms`,
default 5000). Names go into URLs percent-encoded.
"""
from __future__ import annotations

from typing import Any, Optional
from urllib.parse import quote

import httpx

from pyksqlite.connect.api import ConnectError


class RemoteConnectClient:
    remote = True

    def __init__(self, url: str, properties: Optional[dict] = None):
        properties = properties or {}
        timeout = float(properties.get("ksql.connect.request.timeout.ms", 5000)) / 1000
        auth = None
        credentials = properties.get("ksql.connect.basic.auth.credentials.info")
        if credentials and ":" in str(credentials):
            auth = tuple(str(credentials).split(":", 1))
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, auth=auth,
                                  headers={"Accept": "application/json"})

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise ConnectError(503, f"Could not reach the Kafka Connect worker at {self.url}: {error}") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            raise ConnectError(response.status_code, message)
        return response.json() if response.content else None

    @staticmethod
    def _path(name: str, *rest: str) -> str:
        return "/connectors/" + quote(name, safe="") + "".join("/" + part for part in rest)

    def create(self, name: str, config: dict[str, str], strict: bool = True) -> dict[str, Any]:
        return self._request("POST", "/connectors", {"name": name, "config": {**config, "name": name}})

    def delete(self, name: str) -> None:
        self._request("DELETE", self._path(name))

    def connectors(self) -> list[str]:
        return list(self._request("GET", "/connectors") or [])

    def info(self, name: str) -> dict[str, Any]:
        return self._request("GET", self._path(name))

    def status(self, name: str) -> dict[str, Any]:
        return self._request("GET", self._path(name, "status"))

    def topics(self, name: str) -> list[str]:
        found = self._request("GET", self._path(name, "topics")) or {}
        return list((found.get(name) or {}).get("topics") or [])

    def plugins(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/connector-plugins") or [])

    def close(self) -> None:
        self._http.close()
