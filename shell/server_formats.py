"""What the REST API writes: ksqlDB's JSON shapes for errors, query headers and rows, and the
media types it negotiates. Pure functions, shared by the server, the REST QTT runner and tests.
"""
from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any, Iterable, Optional

import orjson

V1_JSON = "application/vnd.ksql.v1+json"
JSON = "application/json"
DELIMITED = "application/vnd.ksqlapi.delimited.v1"

# ksqlDB's error codes (reference 4.2): HTTP status x 100 plus a suffix.
BAD_REQUEST = 40000
BAD_STATEMENT = 40001
QUERY_ENDPOINT = 40002
HTTP2_ONLY = 40004
UNAUTHORIZED = 40100
FORBIDDEN = 40300
NOT_FOUND = 40400
SERVER_ERROR = 50000

QUERY_ENDPOINT_MESSAGE = ("The following statement types should be issued to the websocket endpoint "
                          "'/query':\n\t* PRINT\n\t* SELECT")


def generic_error(code: int, message: str) -> dict[str, Any]:
    return {"@type": "generic_error", "error_code": code, "message": message}


def statement_error(code: int, message: str, statement_text: str,
                    entities: Iterable[dict] = ()) -> dict[str, Any]:
    return {"@type": "statement_error", "error_code": code, "message": message,
            "statementText": statement_text, "entities": list(entities)}


def json_value(value: Any) -> Any:
    """A query result value as ksqlDB writes it in JSON: maps as objects, BYTES as base64,
    TIMESTAMP/DATE/TIME as ISO text, DECIMAL as an exact number."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value)) if value.is_finite() else str(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(e, tuple) and len(e) == 2 for e in value):
            return {str(k): json_value(v) for k, v in value}  # an Arrow map: [(key, value), ...]
        return [json_value(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S") + (f".{value.microsecond // 1000:03d}" if value.microsecond else "")
    return str(value)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


def _default(value: Any) -> Any:
    converted = json_value(value)
    if converted is value:
        raise TypeError(f"cannot serialize {type(value).__name__}")
    return converted


def header_schema(columns, mark_keys: bool) -> str:
    """"`ID` STRING KEY, `COUNT` BIGINT": pull queries mark key columns, push queries do not."""
    return ", ".join(f"`{c.name}` {c.type}" + (" KEY" if mark_keys and c.is_key else "")
                     for c in columns)


def row_values(values: list[Any], types: Optional[list[str]] = None) -> list[Any]:
    """The JSON values of a row; with the column types, an empty MAP is written as `{}` (Arrow
    gives maps as lists of pairs, so an empty one cannot be told from an empty array)."""
    out = [json_value(v) for v in values]
    if types:
        out = [{} if v == [] and t.startswith("MAP<") else v for v, t in zip(out, types)]
    return out


def negotiate(accept: Optional[str], offered: list[str], default: str) -> Optional[str]:
    """The offered media type the Accept header prefers (q-values honoured); `default` when
    there is no Accept header or it accepts anything; None when nothing offered is acceptable."""
    if not accept or not accept.strip():
        return default
    best, best_q = None, 0.0
    for position, part in enumerate(accept.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        media, q = pieces[0].lower(), 1.0
        for param in pieces[1:]:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if media in ("*/*", "application/*"):
            candidate = default
        else:
            candidate = next((o for o in offered if o == media), None)
        if candidate is not None and q > best_q:
            best, best_q = candidate, q
    return best
