"""A client for an external Confluent Schema Registry (`ksql.schema.registry.url`).

It has the methods of the embedded `SchemaRegistry` that the engine uses, over Confluent's REST
API, and caches schemas by id (they never change).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional

from pyksqlite.serde.registry.store import RegisteredSchema, SchemaRegistryError

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class HttpRegistryClient:
    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._by_id: dict[int, RegisteredSchema] = {}

    def _call(self, method: str, path: str, body: Optional[dict] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": _CONTENT_TYPE, "Accept": _CONTENT_TYPE})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read())
                raise SchemaRegistryError(detail.get("message", str(error)), int(detail.get("error_code", error.code)))
            except ValueError:
                raise SchemaRegistryError(str(error), error.code * 100) from None
        except urllib.error.URLError as error:
            raise SchemaRegistryError(f"cannot reach schema registry {self.url}: {error.reason}", 50001) from None

    @staticmethod
    def _subject(subject: str) -> str:
        return urllib.parse.quote(subject, safe="")

    def subjects(self) -> list[str]:
        return self._call("GET", "/subjects")

    def versions(self, subject: str) -> list[int]:
        return self._call("GET", f"/subjects/{self._subject(subject)}/versions")

    def subject_exists(self, subject: str) -> bool:
        try:
            return bool(self.versions(subject))
        except SchemaRegistryError as error:
            if error.error_code == 40401:
                return False
            raise

    def by_id(self, schema_id: int) -> RegisteredSchema:
        schema_id = int(schema_id)
        if schema_id not in self._by_id:
            raw = self._call("GET", f"/schemas/ids/{schema_id}")
            self._by_id[schema_id] = _from_json(raw, schema_id)
        return self._by_id[schema_id]

    def version(self, subject: str, version: int | str = "latest") -> RegisteredSchema:
        raw = self._call("GET", f"/subjects/{self._subject(subject)}/versions/{version}")
        return _from_json(raw, raw["id"])

    def latest(self, subject: str) -> Optional[RegisteredSchema]:
        try:
            return self.version(subject)
        except SchemaRegistryError as error:
            if error.error_code in (40401, 40402):
                return None
            raise

    def register(self, subject: str, schema: str, schema_type: str = "AVRO", references: tuple = (),
                 schema_id: Optional[int] = None, check_compatibility: bool = True) -> int:
        body: dict[str, Any] = {"schema": schema}
        if schema_type != "AVRO":
            body["schemaType"] = schema_type
        if references:
            body["references"] = [r if isinstance(r, dict) else {"name": r[0], "subject": r[1], "version": r[2]}
                                  for r in references]
        if schema_id is not None:
            body["id"] = schema_id
        return int(self._call("POST", f"/subjects/{self._subject(subject)}/versions", body)["id"])

    def test_compatibility(self, subject: str, schema: str, schema_type: str = "AVRO",
                           version: int | str = "latest") -> list[str]:
        body = {"schema": schema, **({"schemaType": schema_type} if schema_type != "AVRO" else {})}
        try:
            raw = self._call("POST", f"/compatibility/subjects/{self._subject(subject)}/versions/{version}"
                                     "?verbose=true", body)
        except SchemaRegistryError as error:
            if error.error_code in (40401, 40402):
                return []
            raise
        return [] if raw.get("is_compatible") else list(raw.get("messages") or ["incompatible"])

    def resolve_references(self, registered: RegisteredSchema) -> dict[str, str]:
        out: dict[str, str] = {}
        pending = list(registered.references)
        while pending:
            name, subject, version = pending.pop()
            if name not in out:
                referenced = self.version(subject, version)
                out[name] = referenced.schema
                pending.extend(referenced.references)
        return out


def _from_json(raw: dict, schema_id: int) -> RegisteredSchema:
    references = tuple((r["name"], r["subject"], int(r["version"])) for r in raw.get("references") or [])
    return RegisteredSchema(int(schema_id), raw["schema"], raw.get("schemaType", "AVRO"), references,
                            raw.get("subject"), raw.get("version"))
