"""The JSON format: whole batches of JSON documents to typed Arrow columns and back, via DuckDB.

Decoding follows ksqlDB's `KsqlJsonDeserializer`: field names match exactly first, then by their
upper-cased form; numbers and strings coerce both ways; a STRING column receiving an object or
array gets its JSON text; BYTES are base64; DATE, TIME and TIMESTAMP are days, ms of day and
epoch ms. Every conversion is one SQL expression that yields the value and, beside it, why the
value could not be produced, so a bad record is found without leaving the vectorized path.

Encoding writes field names exactly as the column names, DECIMAL as a number and BYTES as base64.
"""
from __future__ import annotations


import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.duck import quote_identifier, quote_string, run_sql
from pyksqlite.common.schema import Column
from pyksqlite.serde import json_fast
from pyksqlite.serde.api import DecodeResult
from pyksqlite.common.types import SqlType, to_arrow



def json_pointer(name: str) -> str:
    """A JSON pointer to the top-level member `name` (RFC 6901 escaping)."""
    return "/" + name.replace("~", "~0").replace("/", "~1")


# A minified JSON fragment's kind is its first character; Jackson names the node class in
# ksqlDB's conversion errors.
_NODE_BY_FIRST_CHAR = {'"': "TextNode", "t": "BooleanNode", "f": "BooleanNode", "[": "ArrayNode",
                       "{": "ObjectNode"}

_INTEGRAL_SQL = {"INTEGER": "INTEGER", "BIGINT": "BIGINT", "DATE": "INTEGER", "TIME": "INTEGER",
                 "TIMESTAMP": "BIGINT"}


def _first(v: str) -> str:
    return f"left({v}, 1)"


def _is_number(v: str) -> str:
    return f"({_first(v)} NOT IN ('\"', 't', 'f', '[', '{{', 'n'))"


def _is_fraction(v: str) -> str:
    return f"(contains({v}, '.') OR contains({v}, 'e') OR contains({v}, 'E'))"


def _node_name_sql(v: str) -> str:
    cases = " ".join(f"WHEN {quote_string(ch)} THEN {quote_string(name)}" for ch, name in _NODE_BY_FIRST_CHAR.items())
    return f"(CASE {_first(v)} {cases} ELSE (CASE WHEN {_is_fraction(v)} THEN 'DoubleNode' ELSE 'IntNode' END) END)"


def _text_value(v: str) -> str:
    """The string a JSON string fragment holds; unescaping only when it has escapes."""
    return f"(CASE WHEN contains({v}, '\\') THEN {v}->>'$' ELSE substr({v}, 2, length({v}) - 2) END)"


def _mismatch(v: str, t: SqlType) -> str:
    return (f"('Can''t convert type. sourceType: ' || {_node_name_sql(v)} || "
            f"{quote_string(', requiredType: ' + t.base)})")


class JsonCoercion:
    """Builds the DuckDB expressions that turn a JSON fragment into a typed value, and an error.

    Fragments are minified JSON text (as json_extract returns them), so their kind is read from
    the first character instead of parsing them again. A primitive failed when a non-null
    fragment gave a NULL value; only then is its message built (CASE evaluates lazily).
    """

    def __init__(self) -> None:
        self._lambda_count = 0

    def _fresh(self, prefix: str) -> str:
        self._lambda_count += 1
        return f"{prefix}{self._lambda_count}"

    def _bound(self, v: str, body) -> str:
        """`body(x)` with the fragment expression `v` evaluated once and named x. The expressions
        below mention a fragment several times; binding it keeps nested types' SQL linear in size
        instead of exponential in depth."""
        if v.isidentifier():
            return body(v)
        x = self._fresh("b")
        return f"list_transform([{v}], lambda {x}: {body(x)})[1]"

    def value(self, v: str, t: SqlType) -> str:
        """The expression converting JSON fragment `v` to type `t` (NULL if it cannot)."""
        return self._bound(v, lambda x: (f"(CASE WHEN {x} IS NULL OR {x} = 'null' THEN NULL "
                                         f"ELSE {self._present_value(x, t)} END)"))

    def error(self, v: str, t: SqlType, value: str | None = None) -> str:
        """Why `v` did not convert to `t`, or NULL; `value` is the conversion's expression
        (computed here from `v` when not given)."""
        def body(x: str) -> str:
            present = f"{x} IS NOT NULL AND {x} <> 'null'"
            if t.base in ("ARRAY", "MAP", "STRUCT"):
                return f"(CASE WHEN {present} THEN {self._nested_error(x, t)} END)"
            converted = value if value is not None else self.value(x, t)
            return f"(CASE WHEN {present} AND {converted} IS NULL THEN {self._primitive_error(x, t)} END)"
        if value is not None:
            return body(v)
        return self._bound(v, body)

    def _present_value(self, v: str, t: SqlType) -> str:
        if t.base == "STRING":
            return self._to_string(v)
        if t.base == "BOOLEAN":
            return (f"(CASE {_first(v)} WHEN 't' THEN true WHEN 'f' THEN false "
                    f"WHEN '\"' THEN lower({_text_value(v)}) = 'true' END)")
        if t.base in _INTEGRAL_SQL or t.base in ("DOUBLE", "DECIMAL"):
            return self._to_number(v, t)
        if t.base == "BYTES":
            return f"(CASE {_first(v)} WHEN '\"' THEN try(from_base64({_text_value(v)})) END)"
        if t.base == "ARRAY":
            x = self._fresh("e")
            return (f"(CASE {_first(v)} WHEN '[' THEN list_transform(json_extract({v}, '$[*]'), "
                    f"lambda {x}: {self.value(x, t.element)}) END)")
        if t.base == "MAP":
            k = self._fresh("k")
            item = self.value(_member_by_key(v, k), t.value)
            return (f"(CASE {_first(v)} WHEN '{{' THEN map_from_entries(list_transform(json_keys({v}), "
                    f"lambda {k}: {{'key': {k}, 'value': {item}}})) END)")
        if t.base == "STRUCT":
            fields = ", ".join(f"{quote_identifier(name)} := {self.value(self.field_lookup(v, name), ft)}"
                               for name, ft in t.fields)
            return f"(CASE {_first(v)} WHEN '{{' THEN struct_pack({fields}) END)"
        raise ValueError(f"JSON cannot hold type {t}")

    def _primitive_error(self, v: str, t: SqlType) -> str:
        if t.base == "BYTES":
            return (f"(CASE WHEN {_first(v)} = '\"' THEN 'Value is not a valid Base64 encoded string' "
                    f"ELSE {_mismatch(v, t)} END)")
        if t.base in _INTEGRAL_SQL or t.base in ("DOUBLE", "DECIMAL"):
            not_coerced = quote_string("Can't coerce string to type. targetType: " + t.base)
            return (f"(CASE WHEN {_first(v)} = '\"' THEN {not_coerced} "
                    f"WHEN {_is_number(v)} THEN 'Value ' || {v}::VARCHAR || {quote_string(f' does not fit type {t}')} "
                    f"ELSE {_mismatch(v, t)} END)")
        return _mismatch(v, t)

    def _nested_error(self, v: str, t: SqlType) -> str:
        if t.base == "ARRAY":
            x = self._fresh("e")
            inner = self.error(x, t.element)
            return (f"(CASE WHEN {_first(v)} <> '[' THEN {_mismatch(v, t)} ELSE list_filter(list_transform("
                    f"json_extract({v}, '$[*]'), lambda {x}: {inner}), lambda {x}: {x} IS NOT NULL)[1] END)")
        if t.base == "MAP":
            k = self._fresh("k")
            item = _member_by_key(v, k)
            inner = self.error(item, t.value)
            return (f"(CASE WHEN {_first(v)} <> '{{' THEN {_mismatch(v, t)} ELSE list_filter(list_transform("
                    f"json_keys({v}), lambda {k}: {inner}), lambda {k}: {k} IS NOT NULL)[1] END)")
        errors = []
        for name, field_type in t.fields:
            field = self.field_lookup(v, name)
            errors.append(self.error(field, field_type))
        return f"(CASE WHEN {_first(v)} <> '{{' THEN {_mismatch(v, t)} ELSE coalesce({', '.join(errors)}) END)"

    def _to_string(self, v: str) -> str:
        x = self._fresh("e")
        element_text = f"CASE {_first(x)} WHEN '\"' THEN {_text_value(x)} ELSE {x}::VARCHAR END"
        array_text = (f"'[' || array_to_string(list_transform(json_extract({v}, '$[*]'), "
                      f"lambda {x}: {element_text}), ', ') || ']'")
        return (f"(CASE {_first(v)} WHEN '\"' THEN {_text_value(v)} WHEN '[' THEN {array_text} "
                f"ELSE {v}::VARCHAR END)")

    def _to_number(self, v: str, t: SqlType) -> str:
        sql_type = _INTEGRAL_SQL.get(t.base) or ("DOUBLE" if t.base == "DOUBLE"
                                                 else f"DECIMAL({t.precision}, {t.scale})")
        from_number = f"TRY_CAST({v}::VARCHAR AS {sql_type})"
        if t.base in _INTEGRAL_SQL:
            # Jackson's intValue()/longValue() truncate a fractional number toward zero.
            from_number = (f"(CASE WHEN {_is_fraction(v)} THEN TRY_CAST(trunc(TRY_CAST({v}::VARCHAR AS DOUBLE)) "
                           f"AS {sql_type}) ELSE {from_number} END)")
        from_text = f"TRY_CAST(trim({_text_value(v)}) AS {sql_type})"
        return f"(CASE WHEN {_is_number(v)} THEN {from_number} WHEN {_first(v)} = '\"' THEN {from_text} END)"

    def field_lookup(self, obj: str, name: str, exact: str | None = None,
                     is_object: str | None = None) -> str:
        """Member `name` of JSON object `obj`: the exact key, else the last key whose upper case is `name`."""
        k = self._fresh("k")
        exact = exact or f"json_extract({obj}, {quote_string(json_pointer(name))})"
        is_object = is_object or f"{_first(obj)} = '{{'"
        by_upper_case = (f"json_extract({obj}, '/' || replace(replace(list_filter(json_keys({obj}), "
                         f"lambda {k}: upper({k}) = {quote_string(name)})[-1], '~', '~0'), '/', '~1'))")
        return f"(CASE WHEN {exact} IS NULL AND {is_object} THEN {by_upper_case} ELSE {exact} END)"


def _member_by_key(obj: str, key: str) -> str:
    return f"json_extract({obj}, '/' || replace(replace({key}, '~', '~0'), '/', '~1'))"


_WHOLE_DOCUMENT = "json_extract(d, '$')"


def _decode_sql(columns: list[Column], wrapped: bool, validate: bool) -> str:
    """SELECT giving one column per Column plus `__error`, over table `raw_json(doc VARCHAR)`.

    `validate` guards the parse with json_valid (slower); it is the retry after a batch failed.
    Stages: parse and pick members once, then look members up case-insensitively, then convert.
    """
    parse = "(CASE WHEN json_valid(doc) THEN doc END)::JSON" if validate else "doc::JSON"
    parsed = (f"SELECT doc, d, doc IS NOT NULL AS present, left(ltrim(doc), 1) AS first_char "
              f"FROM (SELECT doc, {parse} AS d FROM raw_json)")
    coercion = JsonCoercion()
    if wrapped:
        parsed, members = _wrapped_members(parsed, columns, coercion)
        not_object = ("(CASE WHEN first_char NOT IN ('{', 'n') THEN 'Can''t convert type. sourceType: ' || "
                      f"{_node_name_sql(_WHOLE_DOCUMENT)} || ', requiredType: STRUCT' END)")
    else:
        members, not_object = [_WHOLE_DOCUMENT], "NULL"
    member_columns = ", ".join(f"{m} AS m{i}" for i, m in enumerate(members))
    looked_up = f"SELECT d, present, first_char, {member_columns} FROM ({parsed})"
    values = ", ".join(f"{coercion.value(f'm{i}', c.type)} AS c{i}" for i, c in enumerate(columns))
    converted = f"SELECT *, {values} FROM ({looked_up})"
    invalid = "(CASE WHEN d IS NULL AND present THEN 'Invalid JSON document' END)"
    errors = [coercion.error(f"m{i}", c.type, f"c{i}") for i, c in enumerate(columns)]
    outputs = ", ".join(f"c{i}" for i in range(len(columns)))
    return f"SELECT {outputs}, coalesce({invalid}, {not_object}, {', '.join(errors)}) AS __error FROM ({converted})"


def _wrapped_members(parsed: str, columns: list[Column], coercion: JsonCoercion) -> tuple[str, list[str]]:
    """The parse stage extended with the members by exact name, and each column's lookup.

    json_transform picks all members in one parse, but DuckDB struct fields are
    case-insensitive, so names differing only in case fall back to a list of JSON pointers.
    A member missing under its exact name is looked up by upper case, unless the document
    plainly contains the exact key (then the member is a JSON null).
    """
    distinct = distinct_ignoring_case([c.name for c in columns])
    if distinct:
        structure = orjson.dumps({c.name: "JSON" for c in columns}).decode()
        picked = f"json_transform(d, {quote_string(structure)})"
        exact = [f"members.{quote_identifier(c.name)}" for c in columns]
    else:
        picked = f"json_extract(d, [{', '.join(quote_string(json_pointer(c.name)) for c in columns)}])"
        exact = [f"members[{i + 1}]" for i in range(len(columns))]
    stage = f"SELECT *, {picked} AS members FROM ({parsed})"
    lookups = []
    for column, exact_member in zip(columns, exact):
        key_text = quote_string(orjson.dumps(column.name).decode())
        may_differ_in_case = f"first_char = '{{' AND NOT contains(doc, {key_text})"
        lookups.append(coercion.field_lookup("d", column.name, exact=exact_member, is_object=may_differ_in_case))
    return stage, lookups


class JsonSerde:
    """JSON serde for a list of columns, wrapped in an object or a single anonymous value."""

    def __init__(self, columns: list[Column], wrapped: bool):
        if not wrapped and len(columns) != 1:
            raise ValueError("an unwrapped JSON serde needs exactly one column")
        self.columns = columns
        self.wrapped = wrapped
        self._fast_sql = _decode_sql(columns, wrapped, validate=False)
        self._checked_sql = _decode_sql(columns, wrapped, validate=True)
        self._encode_sql = _encode_sql(columns, wrapped)
        self._fast_path = json_fast.supports(columns, wrapped)

    def deserialize(self, data: pa.Array) -> DecodeResult:
        text = _as_text(data)
        fast = json_fast.decode(text, self.columns, run_sql) if self._fast_path else None
        if fast is None:
            return self._decode_exactly(text, data)
        arrays, suspect = fast
        if not pc.any(suspect).as_py():
            return DecodeResult(pa.table(arrays, names=[c.name for c in self.columns]), {})
        rows = pc.indices_nonzero(suspect)
        exact = self._decode_exactly(text.take(rows), data.take(rows))
        merged = [pc.replace_with_mask(a, suspect, exact.columns.column(i).combine_chunks())
                  for i, a in enumerate(arrays)]
        row_numbers = rows.to_pylist()
        errors = {row_numbers[i]: message for i, message in exact.errors.items()}
        return DecodeResult(pa.table(merged, names=[c.name for c in self.columns]), errors)

    def _decode_exactly(self, text: pa.Array, data: pa.Array) -> DecodeResult:
        try:
            result = run_sql(self._fast_sql, raw_json=pa.table({"doc": text}))
        except duckdb.Error:
            result = run_sql(self._checked_sql, raw_json=pa.table({"doc": text}))
        return _finish_decode(result, self.columns, data)

    def encode_expression(self, column_sqls: list[str]) -> str:
        """The SQL expression that encodes these columns (in order) as this serde does, so a
        query can encode inside its own statement."""
        ready = [json_ready_sql(sql, c.type) for sql, c in zip(column_sqls, self.columns)]
        if not self.wrapped:
            return f"to_json({ready[0]})"
        return _json_object_sql(self.columns, ready)

    def serialize(self, columns: pa.Table) -> pa.Array:
        renamed = columns.rename_columns([f"c{i}" for i in range(columns.num_columns)])
        encoded = run_sql(self._encode_sql, rows=renamed).column(0)
        return encoded.combine_chunks().cast(pa.string()).cast(pa.binary())


def _as_text(data: pa.Array) -> pa.Array:
    """Binary records as UTF-8 text; records that are not UTF-8 become invalid JSON text."""
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks()
    try:
        return data.cast(pa.string())
    except pa.ArrowInvalid:
        return _replace_invalid_utf8_per_record(data)


def _replace_invalid_utf8_per_record(data: pa.Array) -> pa.Array:
    """Error path only: one Python step per record to find the ones that are not UTF-8."""
    texts = []
    for raw in data.to_pylist():
        try:
            texts.append(None if raw is None else raw.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append("\u0000not utf-8")
    return pa.array(texts, pa.string())


def _finish_decode(result: pa.Table, columns: list[Column], data: pa.Array) -> DecodeResult:
    """Cast to the columns' Arrow types; null out and report the rows that failed."""
    error = result.column("__error").combine_chunks()
    failed = error.is_valid()
    arrays = [result.column(i).combine_chunks() for i in range(len(columns))]
    errors: dict[int, str] = {}
    if error.null_count < len(error):
        failed_rows = pc.indices_nonzero(failed).to_pylist()
        errors = dict(zip(failed_rows, error.take(failed_rows).to_pylist()))
        null_mask = failed
        arrays = [pc.if_else(null_mask, pa.nulls(len(a), a.type), a) for a in arrays]
    typed = [cast_decoded(a, c.type) for a, c in zip(arrays, columns)]
    return DecodeResult(pa.table(typed, names=[c.name for c in columns]), errors)


def cast_decoded(array: pa.Array, t: SqlType) -> pa.Array:
    """DuckDB's result type to the column's Arrow type (integers become DATE/TIME/TIMESTAMP)."""
    target = to_arrow(t)
    if array.type == target:
        return array
    return array.cast(target)


# ------------------------------------------------------------------------------------------
# Encoding
# ------------------------------------------------------------------------------------------

def _needs_rewrite(t: SqlType) -> bool:
    if t.base in ("BYTES", "DATE", "TIME", "TIMESTAMP", "DOUBLE"):
        return True
    children = [t.element, t.key, t.value] + [ft for _, ft in (t.fields or ())]
    return any(c is not None and _needs_rewrite(c) for c in children)


def json_ready_sql(x: str, t: SqlType, depth: int = 0) -> str:
    """An expression giving `x` in the shape ksqlDB writes it to JSON."""
    if not _needs_rewrite(t):
        return x
    if t.base == "BYTES":
        return f"to_base64({x})"
    if t.base == "DATE":
        return f"({x} - DATE '1970-01-01')"
    if t.base == "TIME":
        return f"(epoch_us({x}) // 1000)"
    if t.base == "TIMESTAMP":
        return f"epoch_ms({x}::TIMESTAMP)"
    if t.base == "DOUBLE":
        # Jackson, which ksqlDB writes JSON with, quotes the numbers JSON has no literal for.
        return (f"(CASE WHEN isnan({x}) THEN '\"NaN\"'::JSON WHEN isinf({x}) AND {x} > 0 "
                f"THEN '\"Infinity\"'::JSON WHEN isinf({x}) THEN '\"-Infinity\"'::JSON ELSE to_json({x}) END)")
    e = f"x{depth}"
    if t.base == "ARRAY":
        return f"list_transform({x}, lambda {e}: {json_ready_sql(e, t.element, depth + 1)})"
    if t.base == "MAP":
        value = json_ready_sql(f"{e}.value", t.value, depth + 1)
        return f"map_from_entries(list_transform(map_entries({x}), lambda {e}: {{'key': {e}.key, 'value': {value}}}))"
    fields = ", ".join(f"{quote_identifier(n)} := {json_ready_sql(f'{x}.{quote_identifier(n)}', ft, depth + 1)}"
                       for n, ft in t.fields)
    return f"(CASE WHEN {x} IS NOT NULL THEN struct_pack({fields}) END)"


def _encode_sql(columns: list[Column], wrapped: bool) -> str:
    ready = [json_ready_sql(quote_identifier(f"c{i}"), c.type) for i, c in enumerate(columns)]
    if not wrapped:
        return f"SELECT to_json({ready[0]}) AS doc FROM rows"
    return f"SELECT {_json_object_sql(columns, ready)} AS doc FROM rows"


def _json_object_sql(columns: list[Column], values: list[str]) -> str:
    """The JSON object of the columns' values, members named exactly as the columns."""
    if distinct_ignoring_case([c.name for c in columns]):
        members = ", ".join(f"{quote_identifier(c.name)} := {v}" for c, v in zip(columns, values))
        return f"to_json(struct_pack({members}))"
    # DuckDB struct fields match case-insensitively: `a` and `A` need string keys.
    members = ", ".join(f"{quote_string(c.name)}, {v}" for c, v in zip(columns, values))
    return f"json_object({members})"


def distinct_ignoring_case(names: list[str]) -> bool:
    """Whether no two names are equal ignoring case (as DuckDB compares identifiers)."""
    return len({n.lower() for n in names}) == len({n.upper() for n in names}) == len(names)
