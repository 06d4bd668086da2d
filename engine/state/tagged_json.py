"""JSON text for the values a Python UDAF may keep in its accumulator, typed values included.

A UDAF receives its arguments as Arrow's `to_pylist` gives them, so an accumulator that keeps
argument values may hold Decimals, bytes, dates, times and timestamps besides plain JSON data.
They are written as one-key tagged objects (`{"$decimal": "6.1"}`, `{"$bytes": "<base64>"}`,
`{"$date": "2024-01-31"}`, `{"$time": "12:00:00"}`, `{"$timestamp": "<ISO 8601>"}`); a dict key
of the accumulator's own that starts with `$` is written with one more `$`, so a user's data can
never be read back as a tag. Decoding builds only these value types: data, never code.
"""
from __future__ import annotations

import base64
import datetime
import json
from decimal import Decimal
from typing import Any, Callable

from pyksqlite.state.snapshot import SnapshotError, check_json_data

_ENCODERS: dict[type, tuple[str, Callable[[Any], str]]] = {
    Decimal: ("$decimal", str),
    bytes: ("$bytes", lambda v: base64.b64encode(v).decode("ascii")),
    datetime.datetime: ("$timestamp", datetime.datetime.isoformat),
    datetime.date: ("$date", datetime.date.isoformat),
    datetime.time: ("$time", datetime.time.isoformat),
}
_DECODERS: dict[str, Callable[[str], Any]] = {
    "$decimal": Decimal,
    "$bytes": lambda text: base64.b64decode(text.encode("ascii"), validate=True),
    "$timestamp": datetime.datetime.fromisoformat,
    "$date": datetime.date.fromisoformat,
    "$time": datetime.time.fromisoformat,
}


def dumps(value: Any, where: str) -> str:
    """`value` as JSON text; SnapshotError (naming `where`) if it holds anything else than JSON
    data and the typed values above."""
    plain = _plain(value)
    check_json_data(plain, where, exact=False)
    return json.dumps(plain)


def loads(text: str, where: str) -> Any:
    try:
        return _typed(json.loads(text))
    except (ValueError, TypeError, ArithmeticError) as error:
        raise SnapshotError(f"{where}: {error}") from None


def _plain(value: Any) -> Any:
    encoder = _ENCODERS.get(type(value))
    if encoder is not None:
        tag, encode = encoder
        return {tag: encode(value)}
    if type(value) is list:
        return [_plain(item) for item in value]
    if type(value) is dict:
        return {("$" + key if isinstance(key, str) and key.startswith("$") else key): _plain(item)
                for key, item in value.items()}
    return value


def _typed(value: Any) -> Any:
    if type(value) is list:
        return [_typed(item) for item in value]
    if type(value) is not dict:
        return value
    if len(value) == 1:
        (key, item), = value.items()
        decode = _DECODERS.get(key)
        if decode is not None:
            if not isinstance(item, str):
                raise ValueError(f"a {key} value is not text")
            return decode(item)
    return {(key[1:] if key.startswith("$") else key): _typed(item) for key, item in value.items()}
