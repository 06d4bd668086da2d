"""Compatibility checks between a new schema and a registered one, as Confluent's levels define.

BACKWARD: the new schema can read data written with the old one; FORWARD: the old can read the
new; FULL: both. For Avro this is Avro's schema resolution (fields matched by name, a reader field
missing from the writer needs a default, numeric promotions, unions). Protobuf and JSON schemas
are accepted as compatible (their rules are not checked yet).
"""
from __future__ import annotations

import json
from typing import Any

_PROMOTIONS = {"int": {"int", "long", "float", "double"}, "long": {"long", "float", "double"},
               "float": {"float", "double"}, "string": {"string", "bytes"}, "bytes": {"bytes", "string"}}


def incompatibilities(new: str, old: str, schema_type: str, level: str) -> list[str]:
    if schema_type != "AVRO":
        return []
    try:
        new_schema, old_schema = _load(new), _load(old)
    except ValueError as error:
        return [f"cannot parse schema: {error}"]
    problems: list[str] = []
    if level in ("BACKWARD", "FULL"):
        problems += _reader_problems(new_schema, old_schema, _names(new_schema), _names(old_schema), "")
    if level in ("FORWARD", "FULL"):
        problems += _reader_problems(old_schema, new_schema, _names(old_schema), _names(new_schema), "")
    return problems


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def _names(schema: Any, out: dict | None = None, namespace: str = "") -> dict:
    out = {} if out is None else out
    if isinstance(schema, list):
        for branch in schema:
            _names(branch, out, namespace)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed", "error"):
            name = schema["name"]
            ns = schema.get("namespace", namespace)
            full = name if "." in name or not ns else f"{ns}.{name}"
            out[full] = schema
            out.setdefault(name.rsplit(".", 1)[-1], schema)
            for f in schema.get("fields", []):
                _names(f["type"], out, ns)
        elif kind == "array":
            _names(schema["items"], out, namespace)
        elif kind == "map":
            _names(schema["values"], out, namespace)
        elif isinstance(kind, (dict, list)):
            _names(kind, out, namespace)
    return out


def _resolve(schema: Any, names: dict) -> Any:
    if isinstance(schema, str) and schema in names:
        return names[schema]
    if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
        return _resolve(schema["type"], names)
    if isinstance(schema, dict) and schema.get("type") in names and schema["type"] not in _PROMOTIONS:
        return names[schema["type"]]
    return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        kind = schema.get("type")
        return kind if isinstance(kind, str) else _kind(kind)
    return schema


def _reader_problems(reader: Any, writer: Any, rnames: dict, wnames: dict, path: str) -> list[str]:
    reader, writer = _resolve(reader, rnames), _resolve(writer, wnames)
    rk, wk = _kind(reader), _kind(writer)
    if wk == "union":
        problems = []
        for branch in writer:
            problems += _reader_problems(reader, branch, rnames, wnames, path)
        return problems
    if rk == "union":
        for branch in reader:
            if not _reader_problems(branch, writer, rnames, wnames, path):
                return []
        return [f"{path or '/'}: reader union lacks writer type {wk}"]
    if wk in _PROMOTIONS and rk in _PROMOTIONS[wk] or rk == wk and rk in ("null", "boolean", "double", "int",
                                                                            "long", "float", "string", "bytes"):
        return []
    if rk != wk:
        return [f"{path or '/'}: type {wk} cannot be read as {rk}"]
    if rk == "array":
        return _reader_problems(reader["items"], writer["items"], rnames, wnames, path + "/items")
    if rk == "map":
        return _reader_problems(reader["values"], writer["values"], rnames, wnames, path + "/values")
    if rk == "enum":
        missing = set(writer.get("symbols", [])) - set(reader.get("symbols", []))
        return [f"{path}: enum lacks symbols {sorted(missing)}"] if missing and "default" not in reader else []
    if rk == "fixed":
        return [] if reader.get("size") == writer.get("size") else [f"{path}: fixed size differs"]
    if rk in ("record", "error"):
        problems = []
        written = {f["name"]: f for f in writer.get("fields", [])}
        for f in reader.get("fields", []):
            names = [f["name"]] + list(f.get("aliases", []))
            source = next((written[n] for n in names if n in written), None)
            if source is None:
                if "default" not in f:
                    problems.append(f"{path}/{f['name']}: reader field has no default and is not written")
                continue
            problems += _reader_problems(f["type"], source["type"], rnames, wnames, f"{path}/{f['name']}")
        return problems
    return []
