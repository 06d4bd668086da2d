"""The embedded schema registry: Confluent Schema Registry's model, stored in the engine's data dir.

Subjects (`<topic>-key`, `<topic>-value`) hold versions 1, 2, ...; each version points at a
schema id, global across subjects; registering a schema that a subject already holds returns
its id (and an identical schema under another subject gets the same id, as Confluent does).
A new version must pass the subject's compatibility level (BACKWARD by default). Schemas may
reference other subjects' versions (`references`). The whole state is one JSON file rewritten
atomically and durably (temp + fsync + rename) on each change; a registry without a directory
lives in memory. The file is data only: reading it checks its shape, and a file that is not a
registry is an error naming it (never an empty registry, which would give schemas new ids).
Subjects are names, not paths: any text but control characters, up to 1000 characters (Confluent
rejects empty subjects and control characters the same way, error 42208).
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from pyksqlite.common.errors import KsqlException

MAX_SUBJECT = 1000
COMPATIBILITY_LEVELS = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
                        "FULL", "FULL_TRANSITIVE")
SCHEMA_TYPES = ("AVRO", "PROTOBUF", "JSON")


class SchemaRegistryError(Exception):
    """An error with Confluent's error code (40401 subject not found, 409 incompatible...)."""

    def __init__(self, message: str, error_code: int):
        super().__init__(message)
        self.message = message
        self.error_code = error_code

    @property
    def http_status(self) -> int:
        return int(str(self.error_code)[:3])


@dataclass(frozen=True)
class RegisteredSchema:
    id: int
    schema: str
    schema_type: str = "AVRO"
    references: tuple[tuple[str, str, int], ...] = ()   # (name, subject, version)
    subject: Optional[str] = None
    version: Optional[int] = None

    def to_json(self) -> dict:
        out = {"id": self.id, "schema": self.schema}
        if self.schema_type != "AVRO":
            out["schemaType"] = self.schema_type
        if self.references:
            out["references"] = [{"name": n, "subject": s, "version": v} for n, s, v in self.references]
        if self.subject is not None:
            out["subject"], out["version"] = self.subject, self.version
        return out


def canonical(schema: str, schema_type: str) -> str:
    """The form two schemas are compared in: parsed JSON for Avro/JSON, whitespace-free text else."""
    if schema_type in ("AVRO", "JSON"):
        try:
            return json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))
        except ValueError:
            return schema.strip()
    return "".join(schema.split())


@dataclass
class _State:
    schemas: dict[int, dict] = field(default_factory=dict)            # id -> {schema, schemaType, references}
    subjects: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # subject -> [(version, id)]
    compatibility: dict[str, str] = field(default_factory=dict)        # "" is the global level
    next_id: int = 1


class SchemaRegistry:
    def __init__(self, data_dir: Optional[str | os.PathLike] = None):
        self._path = Path(data_dir) / "schema-registry.json" if data_dir is not None else None
        self._lock = threading.RLock()
        self._state = _State()
        if self._path is not None and self._path.exists():
            self._state = _load_state(self._path)

    # ------------------------------------------------------------------ reads
    def subjects(self) -> list[str]:
        with self._lock:
            return sorted(s for s, versions in self._state.subjects.items() if versions)

    def versions(self, subject: str) -> list[int]:
        with self._lock:
            return [v for v, _ in self._versions_of(subject)]

    def subject_exists(self, subject: str) -> bool:
        with self._lock:
            return bool(self._state.subjects.get(subject))

    def by_id(self, schema_id: int) -> RegisteredSchema:
        with self._lock:
            entry = self._state.schemas.get(int(schema_id))
            if entry is None:
                raise SchemaRegistryError(f"Schema {schema_id} not found", 40403)
            return _registered(int(schema_id), entry)

    def version(self, subject: str, version: int | str = "latest") -> RegisteredSchema:
        with self._lock:
            versions = self._versions_of(subject)
            if version in ("latest", -1, "-1"):
                number, schema_id = versions[-1]
            else:
                match = [p for p in versions if p[0] == int(version)]
                if not match:
                    raise SchemaRegistryError(f"Version {version} not found.", 40402)
                number, schema_id = match[0]
            return _registered(schema_id, self._state.schemas[schema_id], subject, number)

    def latest(self, subject: str) -> Optional[RegisteredSchema]:
        """The subject's latest version, or None when the subject has none."""
        with self._lock:
            return self.version(subject) if self._state.subjects.get(subject) else None

    def lookup(self, subject: str, schema: str, schema_type: str = "AVRO") -> RegisteredSchema:
        """The version of `subject` holding `schema` (Confluent's POST /subjects/{s})."""
        with self._lock:
            wanted = canonical(schema, schema_type)
            for number, schema_id in self._versions_of(subject):
                entry = self._state.schemas[schema_id]
                if canonical(entry["schema"], entry.get("schemaType", "AVRO")) == wanted:
                    return _registered(schema_id, entry, subject, number)
            raise SchemaRegistryError("Schema not found", 40403)

    def subjects_of(self, schema_id: int) -> list[tuple[str, int]]:
        with self._lock:
            return [(s, v) for s, versions in self._state.subjects.items() for v, i in versions if i == schema_id]

    def get_compatibility(self, subject: Optional[str] = None) -> str:
        with self._lock:
            if subject is not None and subject in self._state.compatibility:
                return self._state.compatibility[subject]
            return self._state.compatibility.get("", "BACKWARD")

    def resolve_references(self, registered: RegisteredSchema) -> dict[str, str]:
        """Every schema `registered` references, transitively: import name -> schema text."""
        out: dict[str, str] = {}
        pending = list(registered.references)
        while pending:
            name, subject, version = pending.pop()
            if name in out:
                continue
            referenced = self.version(subject, version)
            out[name] = referenced.schema
            pending.extend(referenced.references)
        return out

    # ------------------------------------------------------------------ writes
    def register(self, subject: str, schema: str, schema_type: str = "AVRO",
                 references: tuple = (), schema_id: Optional[int] = None,
                 check_compatibility: bool = True) -> int:
        """Register `schema` under `subject` and return its id (the existing one if already there).

        `schema_id` registers under a chosen id (Confluent's IMPORT mode; the QTT harness uses it)."""
        check_subject(subject)
        schema_type = (schema_type or "AVRO").upper()
        if schema_type not in SCHEMA_TYPES:
            raise SchemaRegistryError(f"Unknown schema type {schema_type}", 42201)
        references = tuple((r["name"], r["subject"], int(r["version"])) if isinstance(r, dict) else tuple(r)
                           for r in references or ())
        with self._lock:
            wanted = canonical(schema, schema_type)
            for _, existing_id in self._state.subjects.get(subject, []):
                entry = self._state.schemas[existing_id]
                if canonical(entry["schema"], entry.get("schemaType", "AVRO")) == wanted and \
                        (schema_id is None or schema_id == existing_id):
                    return existing_id
            self._check_valid(schema, schema_type)
            if check_compatibility and schema_id is None:
                self._check_compatible(subject, schema, schema_type)
            new_id = schema_id if schema_id is not None else self._id_for(wanted, schema_type, references)
            if new_id in self._state.schemas:
                entry = self._state.schemas[new_id]
                if canonical(entry["schema"], entry.get("schemaType", "AVRO")) != wanted:
                    raise SchemaRegistryError(f"Schema id {new_id} already holds another schema", 42207)
            self._state.schemas[new_id] = {"schema": schema, "schemaType": schema_type,
                                           "references": [list(r) for r in references]}
            self._state.next_id = max(self._state.next_id, new_id + 1)
            versions = self._state.subjects.setdefault(subject, [])
            versions.append(((versions[-1][0] + 1) if versions else 1, new_id))
            self._save()
            return new_id

    def delete_subject(self, subject: str) -> list[int]:
        with self._lock:
            versions = [v for v, _ in self._versions_of(subject)]
            del self._state.subjects[subject]
            self._state.compatibility.pop(subject, None)
            self._save()
            return versions

    def delete_version(self, subject: str, version: int | str) -> int:
        with self._lock:
            number = self.version(subject, version).version
            self._state.subjects[subject] = [p for p in self._state.subjects[subject] if p[0] != number]
            self._save()
            return number

    def set_compatibility(self, level: str, subject: Optional[str] = None) -> str:
        if subject:
            check_subject(subject)
        level = level.upper()
        if level not in COMPATIBILITY_LEVELS:
            raise SchemaRegistryError(f"Invalid compatibility level {level}", 42203)
        with self._lock:
            self._state.compatibility[subject or ""] = level
            self._save()
        return level

    def test_compatibility(self, subject: str, schema: str, schema_type: str = "AVRO",
                           version: int | str = "latest") -> list[str]:
        """Why `schema` cannot be the next version of `subject` (empty when it can)."""
        from pyksqlite.serde.registry.compatibility import incompatibilities
        with self._lock:
            if not self._state.subjects.get(subject):
                return []
            previous = self.version(subject, version)
            return incompatibilities(schema, previous.schema, schema_type, "BACKWARD"
                                     if self.get_compatibility(subject) == "NONE" else self.get_compatibility(subject))

    # ------------------------------------------------------------------ internals
    def _versions_of(self, subject: str) -> list[tuple[int, int]]:
        versions = self._state.subjects.get(subject)
        if not versions:
            raise SchemaRegistryError(f"Subject '{subject}' not found.", 40401)
        return versions

    def _id_for(self, wanted: str, schema_type: str, references: tuple) -> int:
        for schema_id, entry in self._state.schemas.items():
            if entry.get("schemaType", "AVRO") == schema_type and \
                    canonical(entry["schema"], schema_type) == wanted and \
                    tuple(tuple(r) for r in entry.get("references", [])) == references:
                return schema_id
        return self._state.next_id

    def _check_valid(self, schema: str, schema_type: str) -> None:
        if schema_type in ("AVRO", "JSON"):
            try:
                json.loads(schema)
            except ValueError:
                if schema_type == "JSON" or not schema.strip():
                    raise SchemaRegistryError(f"Invalid schema {schema}", 42201) from None
                # a bare Avro primitive name ("int") is not JSON but is a valid schema text
                if schema.strip() not in ("null", "boolean", "int", "long", "float", "double", "bytes", "string"):
                    raise SchemaRegistryError(f"Invalid schema {schema}", 42201) from None

    def _check_compatible(self, subject: str, schema: str, schema_type: str) -> None:
        from pyksqlite.serde.registry.compatibility import incompatibilities
        level = self.get_compatibility(subject)
        versions = self._state.subjects.get(subject)
        if level == "NONE" or not versions:
            return
        previous = versions if level.endswith("_TRANSITIVE") else versions[-1:]
        for _, schema_id in previous:
            problems = incompatibilities(schema, self._state.schemas[schema_id]["schema"], schema_type,
                                         level.removesuffix("_TRANSITIVE"))
            if problems:
                raise SchemaRegistryError(
                    "Schema being registered is incompatible with an earlier schema for subject "
                    f"\"{subject}\", details: {problems}", 409)

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        state = {"schemas": {str(k): v for k, v in self._state.schemas.items()},
                 "subjects": self._state.subjects, "compatibility": self._state.compatibility,
                 "next_id": self._state.next_id}
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            json.dump(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)
        directory = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def check_subject(subject: object) -> str:
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT or \
            any(ord(c) < 32 or 127 <= ord(c) < 160 for c in subject):
        raise SchemaRegistryError("Invalid subject: a subject is 1 to 1000 characters, none of them "
                                  "control characters", 42208)
    return subject


def _load_state(path: Path) -> _State:
    """The registry file's state, its shape checked; an error naming the file otherwise."""
    try:
        raw = json.loads(path.read_bytes())
        schemas = {int(k): _checked_schema(v) for k, v in raw["schemas"].items()}
        subjects = {check_subject(s): [_checked_version(p, schemas) for p in vs] for s, vs in raw["subjects"].items()}
        compatibility = {str(k): str(v) for k, v in raw.get("compatibility", {}).items()}
        next_id = int(raw.get("next_id", 1))
    except (ValueError, TypeError, KeyError, AttributeError, SchemaRegistryError) as error:
        raise KsqlException(f"The schema registry file {path} is corrupt ({type(error).__name__}: {error}); "
                            "restore it from a backup (starting without it would give schemas new ids)") from None
    return _State(schemas, subjects, compatibility, next_id)


def _checked_schema(entry) -> dict:
    if not isinstance(entry, dict) or not isinstance(entry.get("schema"), str) or \
            entry.get("schemaType", "AVRO") not in SCHEMA_TYPES or not isinstance(entry.get("references", []), list):
        raise ValueError(f"invalid schema entry {str(entry)[:200]}")
    return entry


def _checked_version(pair, schemas: dict) -> tuple[int, int]:
    version, schema_id = pair
    if type(version) is not int or type(schema_id) is not int or schema_id not in schemas:
        raise ValueError(f"invalid version entry {pair!r}")
    return version, schema_id


def _registered(schema_id: int, entry: dict, subject: Optional[str] = None,
                version: Optional[int] = None) -> RegisteredSchema:
    return RegisteredSchema(schema_id, entry["schema"], entry.get("schemaType", "AVRO"),
                            tuple(tuple(r) for r in entry.get("references", [])), subject, version)
