"""How a QTT case's expectations are compared with what the engine produced.

The rules are ksqlDB's (`TestExecutor.validateTopicData`, `ExpectedRecordComparator`; see
reference 6.3 "How outputs are compared"). Expected values come from the test file parsed with
`parse_float=Decimal`, so a literal like `1.10` keeps its scale and can be compared exactly with a
DECIMAL the way Java's `BigDecimal.equals` does. Every `*_mismatch` function returns None when the
two sides match, else a short text saying what differed.
"""
from __future__ import annotations

import base64
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

DOUBLE_TOLERANCE = 1e-6


# --- values -------------------------------------------------------------------------------------

def values_match(expected: Any, actual: Any) -> bool:
    """Whether an actual decoded value matches an expected JSON value."""
    if expected is None:
        return actual is None
    if isinstance(expected, bool):
        return isinstance(actual, bool) and actual == expected
    if isinstance(expected, dict):
        return _objects_match(expected, actual)
    if isinstance(expected, list):
        return _arrays_match(expected, actual)
    if isinstance(expected, (int, Decimal, float)):
        return _numbers_match(expected, actual)
    if isinstance(expected, str):
        return _text_matches(expected, actual)
    return expected == actual


def _objects_match(expected: dict, actual: Any) -> bool:
    if not isinstance(actual, dict) or len(actual) != len(expected):
        return False
    for name, expected_field in expected.items():
        # ksqlDB's comparator reads a field by name, then upper-cased; a missing one reads as null
        actual_field = actual.get(name)
        if actual_field is None:
            actual_field = actual.get(name.upper())
        if not values_match(expected_field, actual_field):
            return False
    return True


def _arrays_match(expected: list, actual: Any) -> bool:
    if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
        return False
    return all(values_match(e, a) for e, a in zip(expected, actual))


def _numbers_match(expected: int | Decimal | float, actual: Any) -> bool:
    if actual is None or isinstance(actual, bool):
        return False
    if isinstance(actual, int):
        return actual == expected
    if isinstance(actual, float):
        return abs(float(expected) - actual) < DOUBLE_TOLERANCE
    if isinstance(actual, Decimal):
        return _decimal_matches_number(expected, actual)
    return False


def _decimal_matches_number(expected: int | Decimal | float, actual: Decimal) -> bool:
    # ksqlDB's ExpectedRecordComparator: an integer literal matches a BigDecimal only at scale 0;
    # a decimal literal is brought to the actual value's scale without rounding, so it matches
    # an equal value whatever its scale (expected 5.0 matches 5.00). A string (`_text_matches`)
    # must match the scale exactly.
    if isinstance(expected, int):
        return actual.as_tuple().exponent == 0 and actual == expected
    return Decimal(str(expected)) == actual


def _same_decimal(expected: Decimal, actual: Decimal) -> bool:
    return expected == actual and expected.as_tuple().exponent == actual.as_tuple().exponent


def _text_matches(expected: str, actual: Any) -> bool:
    if isinstance(actual, str):
        return actual == expected
    if isinstance(actual, Decimal):
        try:
            return _same_decimal(Decimal(expected), actual)
        except InvalidOperation:
            return False
    if isinstance(actual, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(actual)).decode("ascii") == expected
    return False


# --- records ------------------------------------------------------------------------------------

def records_mismatch(topic: str, expected: list[dict], actual: list[Any],
                     had_inputs: bool) -> Optional[str]:
    """Compare the expected records of one topic with the actual ones (TestRecord-like objects
    with key, value, timestamp, headers, window), in order and with equal counts."""
    for index, (want, got) in enumerate(zip(expected, actual)):
        problem = record_mismatch(want, got, had_inputs)
        if problem:
            return f"topic {topic} record {index}: {problem}"
    if len(expected) != len(actual):
        return f"topic {topic}: expected {len(expected)} records, got {len(actual)}"
    return None


def record_mismatch(expected: dict, actual: Any, had_inputs: bool = True) -> Optional[str]:
    """Compare one expected record (a QTT output dict) with one actual record."""
    checks = (_key_mismatch, _value_mismatch, _timestamp_mismatch, _headers_mismatch)
    for check in checks:
        problem = check(expected, actual, had_inputs)
        if problem:
            return problem
    return None


def _key_mismatch(expected: dict, actual: Any, _had_inputs: bool) -> Optional[str]:
    problem = _window_mismatch(expected.get("window"), getattr(actual, "window", None))
    if problem:
        return problem
    if not values_match(expected.get("key"), actual.key):
        return f"key: expected {expected.get('key')!r}, got {actual.key!r}"
    return None


def _window_mismatch(expected: Optional[dict], actual: Optional[dict]) -> Optional[str]:
    if expected is None and actual is None:
        return None
    if expected is None or actual is None:
        return f"window: expected {expected!r}, got {actual!r}"
    same = (expected.get("start") == actual.get("start")
            and expected.get("end") == actual.get("end")
            and str(expected.get("type", "")).upper() == str(actual.get("type", "")).upper())
    return None if same else f"window: expected {expected!r}, got {actual!r}"


def _value_mismatch(expected: dict, actual: Any, _had_inputs: bool) -> Optional[str]:
    if values_match(expected.get("value"), actual.value):
        return None
    return f"value: expected {expected.get('value')!r}, got {actual.value!r}"


def _timestamp_mismatch(expected: dict, actual: Any, had_inputs: bool) -> Optional[str]:
    want = expected.get("timestamp")
    if want is None or (want == 0 and not had_inputs):
        return None
    if want != actual.timestamp:
        return f"timestamp: expected {want}, got {actual.timestamp}"
    return None


def _headers_mismatch(expected: dict, actual: Any, _had_inputs: bool) -> Optional[str]:
    if "headers" not in expected:
        return None
    want = [_header_pair(h) for h in expected.get("headers") or []]
    got = [_header_pair(h) for h in getattr(actual, "headers", None) or []]
    return None if want == got else f"headers: expected {want!r}, got {got!r}"


def _header_pair(header: dict) -> tuple[Any, Any]:
    by_upper_name = {str(name).upper(): value for name, value in header.items()}
    value = by_upper_name.get("VALUE")
    if isinstance(value, (bytes, bytearray)):
        value = base64.b64encode(bytes(value)).decode("ascii")
    return by_upper_name.get("KEY"), value


# --- source schemas (post.sources) --------------------------------------------------------------

TYPE_ALIASES = {"INT": "INTEGER", "VARCHAR": "STRING"}
_TOKEN = re.compile(r"\s*(`(?:[^`]|``)*`|'(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_]*|\d+|[<>(),])")


def parse_schema(text: str) -> list[dict]:
    """Parse a post.sources schema ("ID INT KEY, `n` STRUCT<A INT>") into columns
    [{"name", "type", "field_type"}] where type is a canonical nested form (see `_type_node`)."""
    tokens = _tokenize(text)
    columns = []
    while tokens:
        columns.append(_parse_column(tokens))
        if tokens:
            _expect(tokens, ",")
    return columns


def _tokenize(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"cannot parse schema at {text[position:]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _expect(tokens: list[str], token: str) -> None:
    if not tokens or tokens[0] != token:
        raise ValueError(f"expected {token!r} in schema, got {tokens[:1]}")
    tokens.pop(0)


def _identifier(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1].replace("``", "`")
    return token.upper()


def _parse_column(tokens: list[str]) -> dict:
    name = _identifier(tokens.pop(0))
    column_type = _parse_type(tokens)
    field_type = None
    if tokens and tokens[0].upper() == "PRIMARY":
        tokens.pop(0)
    if tokens and tokens[0].upper() == "KEY":
        tokens.pop(0)
        field_type = "KEY"
    elif tokens and tokens[0].upper() in ("HEADERS", "HEADER"):
        if tokens.pop(0).upper() == "HEADER":
            _expect(tokens, "(")
            tokens.pop(0)
            _expect(tokens, ")")
        field_type = "HEADER"
    return {"name": name, "type": column_type, "field_type": field_type}


def _parse_type(tokens: list[str]) -> tuple:
    base = tokens.pop(0).upper()
    base = TYPE_ALIASES.get(base, base)
    if base == "STRUCT":
        return ("STRUCT", tuple(_parse_struct_fields(tokens)))
    if base == "ARRAY":
        _expect(tokens, "<")
        element = _parse_type(tokens)
        _expect(tokens, ">")
        return ("ARRAY", element)
    if base == "MAP":
        _expect(tokens, "<")
        _parse_type(tokens)  # the key type: sourceDescription does not carry it
        _expect(tokens, ",")
        value = _parse_type(tokens)
        _expect(tokens, ">")
        return ("MAP", value)
    if base == "DECIMAL" and tokens and tokens[0] == "(":
        tokens.pop(0)
        precision = int(tokens.pop(0))
        _expect(tokens, ",")
        scale = int(tokens.pop(0))
        _expect(tokens, ")")
        return ("DECIMAL", precision, scale)
    return (base,)


def _parse_struct_fields(tokens: list[str]) -> list[tuple[str, tuple]]:
    _expect(tokens, "<")
    fields = []
    while tokens and tokens[0] != ">":
        name = _identifier(tokens.pop(0))
        fields.append((name, _parse_type(tokens)))
        if tokens and tokens[0] == ",":
            tokens.pop(0)
    _expect(tokens, ">")
    return fields


def _type_node(schema: dict) -> tuple:
    """The canonical form of a sourceDescription field schema {type, fields?, memberSchema?}."""
    base = TYPE_ALIASES.get(str(schema.get("type", "")).upper(), str(schema.get("type", "")).upper())
    if base == "STRUCT":
        fields = schema.get("fields") or []
        return ("STRUCT", tuple((f["name"], _type_node(f["schema"])) for f in fields))
    if base in ("ARRAY", "MAP"):
        return (base, _type_node(schema.get("memberSchema") or {}))
    parameters = schema.get("parameters") or {}
    if base == "DECIMAL" and "precision" in parameters:
        return ("DECIMAL", int(parameters["precision"]), int(parameters["scale"]))
    return (base,)


def _types_match(expected: tuple, actual: tuple) -> bool:
    if expected[0] != actual[0]:
        return False
    if expected[0] == "STRUCT":
        return (len(expected[1]) == len(actual[1])
                and all(en == an and _types_match(et, at)
                        for (en, et), (an, at) in zip(expected[1], actual[1])))
    if expected[0] in ("ARRAY", "MAP"):
        return _types_match(expected[1], actual[1])
    # A DECIMAL whose description lacks precision/scale matches any DECIMAL.
    return len(actual) == 1 or expected == actual


def render_type(node: tuple) -> str:
    """SQL-like text of a canonical type, for failure reasons."""
    if node[0] == "STRUCT":
        return "STRUCT<" + ", ".join(f"{n} {render_type(t)}" for n, t in node[1]) + ">"
    if node[0] in ("ARRAY", "MAP"):
        return f"{node[0]}<{render_type(node[1])}>"
    if node[0] == "DECIMAL" and len(node) == 3:
        return f"DECIMAL({node[1]},{node[2]})"
    return node[0]


def source_mismatch(expected: dict, description: dict) -> Optional[str]:
    """Compare one post.sources entry with engine.describe_source()'s sourceDescription."""
    name = expected.get("name")
    want_type = str(expected.get("type", "")).upper()
    if want_type and want_type != str(description.get("type", "")).upper():
        return f"source {name}: expected type {want_type}, got {description.get('type')}"
    for check in (_schema_mismatch, _key_format_mismatch, _value_format_mismatch):
        problem = check(expected, description)
        if problem:
            return f"source {name}: {problem}"
    return None


def _schema_mismatch(expected: dict, description: dict) -> Optional[str]:
    if not expected.get("schema"):
        return None
    want = [(c["name"], c["type"], c["field_type"]) for c in parse_schema(expected["schema"])]
    got = [(f["name"], _type_node(f.get("schema") or {}), f.get("type") or f.get("fieldType"))
           for f in description.get("fields") or []]
    same = len(want) == len(got) and all(
        wn == gn and wk == gk and _types_match(wt, gt)
        for (wn, wt, wk), (gn, gt, gk) in zip(want, got))
    if same:
        return None
    return f"schema: expected {_render_columns(want)}, got {_render_columns(got)}"


def _render_columns(columns: list[tuple]) -> str:
    return ", ".join(f"{n} {render_type(t)}" + (f" {k}" if k else "") for n, t, k in columns)


def _key_format_mismatch(expected: dict, description: dict) -> Optional[str]:
    key_format = expected.get("keyFormat")
    if not key_format:
        return None
    want_format = str(key_format.get("format", "")).upper()
    if want_format and want_format != str(description.get("keyFormat", "")).upper():
        return f"expected key format {want_format}, got {description.get('keyFormat')}"
    want_window = key_format.get("windowType")
    got_window = description.get("windowType")
    if want_window and str(want_window).upper() != str(got_window or "").upper():
        return f"expected window type {want_window}, got {got_window}"
    return None


def _value_format_mismatch(expected: dict, description: dict) -> Optional[str]:
    value_format = expected.get("valueFormat")
    if isinstance(value_format, dict):
        value_format = value_format.get("format")
    if value_format and str(value_format).upper() != str(description.get("valueFormat", "")).upper():
        return f"expected value format {value_format}, got {description.get('valueFormat')}"
    return None


def blacklist_mismatch(pattern: str, topics: list[str]) -> Optional[str]:
    """ksqlDB's post.topics.blacklist: no topic name may (fully) match the regex."""
    offending = sorted(t for t in topics if re.fullmatch(pattern, t))
    return f"topics matching blacklist {pattern!r}: {offending}" if offending else None
