"""The schema registry ksqlite uses for AVRO, PROTOBUF and JSON_SR.

`SchemaRegistry` (store.py) is the embedded one, with Confluent Schema Registry's semantics;
`HttpRegistryClient` (client.py) talks to an external registry (`ksql.schema.registry.url`);
`http.py` serves the embedded one over Confluent's REST API. Serdes find their engine's
registry through `lookup(token)`: a FormatInfo carries the token, not the registry itself.
"""
from __future__ import annotations

import itertools
import threading
import weakref
from typing import Any

from pyksqlite.serde.registry.store import RegisteredSchema, SchemaRegistry, SchemaRegistryError

__all__ = ["RegisteredSchema", "SchemaRegistry", "SchemaRegistryError", "register_handle", "lookup",
           "registry_for"]

_handles: "weakref.WeakValueDictionary[str, Any]" = weakref.WeakValueDictionary()
_counter = itertools.count(1)
_lock = threading.Lock()


def register_handle(registry: Any) -> str:
    """A token that serdes can resolve to `registry` while it lives."""
    with _lock:
        token = f"sr{next(_counter)}"
        _handles[token] = registry
    return token


def lookup(token: str) -> Any:
    registry = _handles.get(token)
    if registry is None:
        raise SchemaRegistryError(f"schema registry {token} is gone", 50001)
    return registry


def registry_for(url: Any, data_dir) -> Any:
    """The external registry at `url` when it is an http(s) URL, else the embedded one in data_dir.

    ksqlDB's test harness sets a placeholder URL (`schema_registry.url:0`) for its mock registry;
    anything that is not an http(s) URL means the embedded registry here.
    """
    text = str(url or "").strip()
    if text.startswith(("http://", "https://")):
        from pyksqlite.serde.registry.client import HttpRegistryClient
        return HttpRegistryClient(text.split(",")[0])
    return SchemaRegistry(data_dir)
