"""ksqlDB's JSON functions over JSON text, on DuckDB's json extension.

EXTRACTJSONFIELD takes ksqlDB's JSONPath subset (`$.a.b`, `$.a[0]`, `$['a']`); a literal path is
translated to DuckDB's quoted form once (`$."@type"`), and negative indexes match nothing as in
ksqlDB. Text that is not valid JSON gives NULL, never an error. TO_JSON_STRING renders any SQL
type as ksqlDB's JSON serializer writes it (compact, Java's double text, ISO times).
"""
from __future__ import annotations

import re
from typing import Optional

from pyksqlite.expressions.builtins_collections import distinct_sql
from pyksqlite.common.duck import quote_string
from pyksqlite.expressions.builtins_common import literal_string
from pyksqlite.expressions.casts import bind_once, fresh_lambda_param, java_double_string
from pyksqlite.grammar.ast import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, SqlType, array, map_of

CATEGORY = dict(category="JSON")
_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(-?\d+)\s*\]")


def ksql_json_path(path: str) -> Optional[str]:
    """ksqlDB's JSONPath as DuckDB's, or None when it can match nothing (a negative index)."""
    if not path.startswith("$"):
        return None
    parts, position = ["$"], 1
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if not match:
            return None
        field, quoted, double_quoted, index = match.groups()
        if index is not None:
            if int(index) < 0:
                return None
            parts.append(f"[{int(index)}]")
        else:
            name = field if field is not None else (quoted if quoted is not None else double_quoted)
            parts.append('."' + name.replace('"', '\\"') + '"')
        position = match.end()
    return "".join(parts)


def _key_path(key_sql: str) -> str:
    return f"('$.\"' || replace({key_sql}, '\"', '\\\"') || '\"')"


def _valid(sql: str) -> str:
    return f"coalesce(json_valid({sql}), FALSE)"


# ---- EXTRACTJSONFIELD and friends --------------------------------------------------------------

def _extract_json_field(args, types):
    text = literal_string(args[1])
    if text is not None:
        path = ksql_json_path(text)
        if path is None:
            return "CAST(NULL AS VARCHAR)"
        path_sql = quote_string(path)
    else:
        path_sql = args[1]
    return (f"CASE WHEN {_valid(args[0])} THEN "
            f"json_extract_string({args[0]}, {path_sql}) END")


def _json_array_contains(element_type: SqlType):
    def render(args, types):
        item = fresh_lambda_param()
        value = args[1]
        if element_type.base == "STRING":
            test = f"json_type({item}) = 'VARCHAR' AND json_extract_string({item}, '$') = {value}"
        elif element_type.base == "BOOLEAN":
            test = f"json_type({item}) = 'BOOLEAN' AND CAST({item} AS VARCHAR) = CAST({value} AS VARCHAR)"
        elif element_type.base == "DOUBLE":
            test = f"json_type({item}) = 'DOUBLE' AND CAST({item} AS DOUBLE) = {value}"
        else:
            test = f"json_type({item}) IN ('BIGINT', 'UBIGINT') AND CAST({item} AS HUGEINT) = {value}"
        elements = f"CAST(json_extract({args[0]}, '$[*]') AS JSON[])"
        found = f"len(list_filter({elements}, lambda {item}: {test})) > 0"
        return (f"CASE WHEN {_valid(args[0])} AND json_type({args[0]}) = 'ARRAY' "
                f"THEN coalesce({found}, FALSE) ELSE FALSE END")
    return render


def _json_concat(args, types):
    """All objects: a shallow merge (later values win, first positions kept); otherwise the
    concatenation of arrays, any other value counting as a one-element array."""
    all_valid = " AND ".join(_valid(a) for a in args)
    all_objects = " AND ".join(f"json_type({a}) = 'OBJECT'" for a in args)
    key = fresh_lambda_param()
    keys = distinct_sql(f"list_concat({', '.join(f'json_keys({a})' for a in args)})" if len(args) > 1
                        else f"json_keys({args[0]})")
    latest = " ".join(f"WHEN json_exists({a}, {_key_path(key)}) THEN "
                      f"CAST(json_extract({a}, {_key_path(key)}) AS VARCHAR)" for a in reversed(args))
    members = (f"list_transform({keys}, lambda {key}: CAST(to_json({key}) AS VARCHAR) || ':' || "
               f"CASE {latest} END)")
    merged = f"'{{' || array_to_string({members}, ',') || '}}'"
    items = [f"CASE WHEN json_type({a}) = 'ARRAY' THEN CAST(json_extract({a}, '$[*]') AS VARCHAR[]) "
             f"ELSE [CAST(json({a}) AS VARCHAR)] END" for a in args]
    concatenated = items[0]
    for item in items[1:]:
        concatenated = f"list_concat({concatenated}, {item})"
    joined = f"'[' || array_to_string({concatenated}, ',') || ']'"
    return f"CASE WHEN {all_valid} THEN (CASE WHEN {all_objects} THEN {merged} ELSE {joined} END) END"


def _json_records(args, types):
    key = fresh_lambda_param()
    entries = (f"list_transform(json_keys({args[0]}), lambda {key}: {{'key': {key}, 'value': "
               f"CAST(json_extract({args[0]}, {_key_path(key)}) AS VARCHAR)}})")
    return (f"CASE WHEN {_valid(args[0])} AND json_type({args[0]}) = 'OBJECT' "
            f"THEN map_from_entries({entries}) END")


def _register_json_text(registry) -> None:
    reg = registry.register
    registry.clear_variants("EXTRACTJSONFIELD")
    reg("EXTRACTJSONFIELD", (STRING, STRING), STRING, _extract_json_field,
        description="The value at a JSONPath in JSON text: text for strings, JSON otherwise.",
        **CATEGORY)
    reg("IS_JSON_STRING", (STRING,), BOOLEAN, lambda a, t: _valid(a[0]),
        description="Whether a string is valid JSON.", **CATEGORY)
    for element in (STRING, BOOLEAN, INTEGER, BIGINT, DOUBLE):
        reg("JSON_ARRAY_CONTAINS", (STRING, element), BOOLEAN, _json_array_contains(element),
            description="Whether a JSON array contains a primitive value.", **CATEGORY)
    reg("JSON_ARRAY_LENGTH", (STRING,), INTEGER,
        lambda a, t: (f"CASE WHEN {_valid(a[0])} AND json_type({a[0]}) = 'ARRAY' "
                      f"THEN CAST(json_array_length({a[0]}) AS INTEGER) END"),
        description="The length of a JSON array; NULL for anything else.", **CATEGORY)
    reg("JSON_KEYS", (STRING,), array(STRING),
        lambda a, t: f"CASE WHEN {_valid(a[0])} AND json_type({a[0]}) = 'OBJECT' THEN json_keys({a[0]}) END",
        description="The keys of a JSON object; NULL for anything else.", **CATEGORY)
    reg("JSON_ITEMS", (STRING,), array(STRING),
        lambda a, t: (f"CASE WHEN {_valid(a[0])} AND json_type({a[0]}) = 'ARRAY' "
                      f"THEN CAST(json_extract({a[0]}, '$[*]') AS VARCHAR[]) END"),
        description="The elements of a JSON array, each as JSON text.", **CATEGORY)
    reg("JSON_RECORDS", (STRING,), map_of(STRING, STRING), _json_records,
        description="The members of a JSON object as a map of JSON texts.", **CATEGORY)
    reg("JSON_CONCAT", (STRING, STRING), STRING, _json_concat, variadic=True,
        description="Merge JSON objects, or concatenate JSON arrays.", **CATEGORY)


# ---- TO_JSON_STRING ----------------------------------------------------------------------------

def json_text_sql(sql: str, t: SqlType) -> str:
    """`sql` (of type `t`) as compact JSON text, NULL for a NULL value."""
    base = t.base
    if base == "STRING":
        return f"CAST(to_json({sql}) AS VARCHAR)"
    if base in ("INTEGER", "BIGINT", "BOOLEAN", "DECIMAL"):
        return f"CAST({sql} AS VARCHAR)"
    if base == "DOUBLE":
        return java_double_string(sql)
    if base == "BYTES":
        return f"('\"' || to_base64({sql}) || '\"')"
    if base == "TIMESTAMP":
        return f"('\"' || strftime({sql}, '%Y-%m-%dT%H:%M:%S.%g') || '\"')"
    if base in ("DATE", "TIME"):
        return f"('\"' || CAST({sql} AS VARCHAR) || '\"')"
    if base == "ARRAY":
        x = fresh_lambda_param()
        items = f"list_transform({sql}, lambda {x}: coalesce({json_text_sql(x, t.element)}, 'null'))"
        return f"('[' || array_to_string({items}, ',') || ']')"
    if base == "MAP":
        e = fresh_lambda_param()
        members = (f"list_transform(map_entries({sql}), lambda {e}: CAST(to_json({e}.key) AS VARCHAR)"
                   f" || ':' || coalesce({json_text_sql(f'{e}.value', t.value)}, 'null'))")
        return f"('{{' || array_to_string({members}, ',') || '}}')"
    members = " || ',' || ".join(
        f"{quote_string(_json_name(name) + ':')} || coalesce("
        f"{json_text_sql(f'struct_extract({sql}, {quote_string(name)})', ft)}, 'null')"
        for name, ft in t.fields) or "''"
    return f"CASE WHEN {sql} IS NULL THEN NULL ELSE '{{' || {members} || '}}' END"


def _json_name(name: str) -> str:
    import json
    return json.dumps(name)


def _register_to_json(registry) -> None:
    registry.register("TO_JSON_STRING", ("ANY",), STRING,
                      lambda a, t: bind_once(a[0], lambda v: f"coalesce({json_text_sql(v, t[0])}, 'null')")
                      if t[0] is not None else "'null'",
                      description="Any value as JSON text.", **CATEGORY)


def register_json(registry) -> None:
    _register_json_text(registry)
    _register_to_json(registry)
