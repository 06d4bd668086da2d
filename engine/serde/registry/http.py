"""Confluent Schema Registry's REST API over the embedded registry, as a Starlette ASGI app.

    from pyksqlite.serde.registry.http import registry_app
    app = registry_app(engine.schema_registry)        # serve on its own port, or
    Mount("/schema-registry", app=registry_app(...))  # under a path of the ksqlite server

Clients then use `http://host:port` (or `.../schema-registry`) as their schema registry URL.
Error bodies are Confluent's: `{"error_code": 40401, "message": "..."}`.
"""
from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pyksqlite.serde.registry.store import SchemaRegistryError

_MEDIA = "application/vnd.schemaregistry.v1+json"


class _Json(JSONResponse):
    media_type = _MEDIA


def registry_app(registry: Any) -> Starlette:
    """The ASGI app serving `registry` (an embedded SchemaRegistry or any client with its methods)."""

    def handler(fn):
        async def endpoint(request: Request):
            body = None
            if request.method in ("POST", "PUT"):
                raw = await request.body()
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    return _Json({"error_code": 50005, "message": "Unrecognized JSON body"}, status_code=422)
            try:
                result = await run_in_threadpool(fn, request, body)
            except SchemaRegistryError as error:
                return _Json({"error_code": error.error_code, "message": error.message},
                             status_code=error.http_status)
            return _Json(result)
        return endpoint

    def subjects(request, _):
        return registry.subjects()

    def versions(request, _):
        return registry.versions(request.path_params["subject"])

    def register(request, body):
        subject = request.path_params["subject"]
        schema_id = registry.register(subject, body["schema"], body.get("schemaType", "AVRO"),
                                      tuple(body.get("references") or ()), schema_id=body.get("id"))
        return {"id": schema_id}

    def lookup(request, body):
        found = registry.lookup(request.path_params["subject"], body["schema"], body.get("schemaType", "AVRO"))
        return found.to_json()

    def get_version(request, _):
        return registry.version(request.path_params["subject"], request.path_params["version"]).to_json()

    def get_version_schema(request, _):
        return json.loads(registry.version(request.path_params["subject"], request.path_params["version"]).schema)

    def delete_subject(request, _):
        return registry.delete_subject(request.path_params["subject"])

    def delete_version(request, _):
        return registry.delete_version(request.path_params["subject"], request.path_params["version"])

    def schema_by_id(request, _):
        found = registry.by_id(int(request.path_params["id"]))
        out = {"schema": found.schema}
        if found.schema_type != "AVRO":
            out["schemaType"] = found.schema_type
        if found.references:
            out["references"] = found.to_json()["references"]
        return out

    def schema_text_by_id(request, _):
        return json.loads(registry.by_id(int(request.path_params["id"])).schema)

    def schema_subjects(request, _):
        return [s for s, _ in registry.subjects_of(int(request.path_params["id"]))]

    def schema_versions(request, _):
        return [{"subject": s, "version": v} for s, v in registry.subjects_of(int(request.path_params["id"]))]

    def schema_types(request, _):
        return ["AVRO", "PROTOBUF", "JSON"]

    def get_config(request, _):
        subject = request.path_params.get("subject")
        return {"compatibilityLevel": registry.get_compatibility(subject)}

    def put_config(request, body):
        level = body.get("compatibility") or body.get("compatibilityLevel") or ""
        return {"compatibility": registry.set_compatibility(level, request.path_params.get("subject"))}

    def compatibility(request, body):
        problems = registry.test_compatibility(request.path_params["subject"], body["schema"],
                                               body.get("schemaType", "AVRO"),
                                               request.path_params.get("version", "latest"))
        out: dict[str, Any] = {"is_compatible": not problems}
        if request.query_params.get("verbose") == "true":
            out["messages"] = problems
        return out

    routes = [
        Route("/subjects", handler(subjects), methods=["GET"]),
        Route("/subjects/{subject}/versions", handler(versions), methods=["GET"]),
        Route("/subjects/{subject}/versions", handler(register), methods=["POST"]),
        Route("/subjects/{subject}", handler(lookup), methods=["POST"]),
        Route("/subjects/{subject}", handler(delete_subject), methods=["DELETE"]),
        Route("/subjects/{subject}/versions/{version}", handler(get_version), methods=["GET"]),
        Route("/subjects/{subject}/versions/{version}", handler(delete_version), methods=["DELETE"]),
        Route("/subjects/{subject}/versions/{version}/schema", handler(get_version_schema), methods=["GET"]),
        Route("/schemas/ids/{id:int}", handler(schema_by_id), methods=["GET"]),
        Route("/schemas/ids/{id:int}/schema", handler(schema_text_by_id), methods=["GET"]),
        Route("/schemas/ids/{id:int}/subjects", handler(schema_subjects), methods=["GET"]),
        Route("/schemas/ids/{id:int}/versions", handler(schema_versions), methods=["GET"]),
        Route("/schemas/types", handler(schema_types), methods=["GET"]),
        Route("/config", handler(get_config), methods=["GET"]),
        Route("/config", handler(put_config), methods=["PUT"]),
        Route("/config/{subject}", handler(get_config), methods=["GET"]),
        Route("/config/{subject}", handler(put_config), methods=["PUT"]),
        Route("/compatibility/subjects/{subject}/versions/{version}", handler(compatibility), methods=["POST"]),
        Route("/compatibility/subjects/{subject}/versions", handler(compatibility), methods=["POST"]),
    ]
    return Starlette(routes=routes)
