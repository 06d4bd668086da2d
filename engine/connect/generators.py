"""Random records from an Avro schema annotated with `arg.properties`, as the datagen connector's
Avro Random Generator reads them, a whole batch at a time (numpy; no Python loop per record).

Per field: `iteration` ({start, step}: start + step * record number), `range` ({min, max}:
uniform, max exclusive for integers), `options` (one of the values; on a record, one of the
whole records), `regex` (the subset the quickstarts use: literals, character classes such as
[a-z0-9_], and the quantifiers ?, *, +, {n}, {m,n}). Fields without properties get random
values of their type. Unions with null generate the non-null branch.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.connect.api import ConnectError
from pyksqlite.grammar.ast import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, SqlType, struct

_PRIMITIVES = {"int": INTEGER, "long": BIGINT, "double": DOUBLE, "float": DOUBLE, "string": STRING,
               "boolean": BOOLEAN}
_ARROW = {"int": pa.int32(), "long": pa.int64(), "double": pa.float64(), "float": pa.float64(),
          "string": pa.string(), "boolean": pa.bool_()}
_UNBOUNDED_REPEAT = 8                  # what * and + repeat up to
_ALNUM = list(string.ascii_letters + string.digits)

Generate = Callable[[np.random.Generator, int, int], pa.Array]   # (rng, first record number, count)


@dataclass(frozen=True)
class RecordGenerator:
    """The columns of a schema (name, ksqlDB type) and a function making `count` records."""
    columns: tuple[tuple[str, SqlType], ...]
    generate_struct: Generate

    def generate(self, rng: np.random.Generator, first: int, count: int) -> pa.Table:
        return pa.Table.from_struct_array(self.generate_struct(rng, first, count))


def record_generator(schema: Any) -> RecordGenerator:
    """The generator of an Avro record schema (a dict, as parsed from JSON)."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise ConnectError(400, "The datagen schema must be an Avro record schema.")
    sql_type, generate = _compile(schema, "record")
    return RecordGenerator(tuple(sql_type.fields), generate)


def _compile(schema: Any, where: str) -> tuple[SqlType, Generate]:
    if isinstance(schema, list):                      # a union: the first branch that is not null
        branches = [branch for branch in schema if branch != "null"]
        if not branches:
            raise ConnectError(400, f"Field {where}: a union needs a branch that is not null.")
        return _compile(branches[0], where)
    if isinstance(schema, str):
        schema = {"type": schema}
    if not isinstance(schema, dict):
        raise ConnectError(400, f"Field {where}: not an Avro schema: {schema!r}")
    kind = schema.get("type")
    if isinstance(kind, (dict, list)):                # {"type": {"type": "long", ...}}
        return _compile(kind, where)
    properties = schema.get("arg.properties") or {}
    if kind == "record":
        return _record(schema, properties, where)
    if kind not in _PRIMITIVES:
        raise ConnectError(400, f"Field {where}: type {kind!r} is not supported by the embedded datagen "
                                f"(it has {', '.join(sorted(_PRIMITIVES))} and records).")
    return _PRIMITIVES[kind], _primitive(kind, properties, where)


def _record(schema: dict, properties: dict, where: str) -> tuple[SqlType, Generate]:
    fields = schema.get("fields") or []
    compiled = [(field["name"], *_compile(field["type"], f"{where}.{field['name']}")) for field in fields]
    sql_type = struct([(name, sql_type) for name, sql_type, _ in compiled])
    arrow_type = pa.struct([(name, _arrow_of(sql_type)) for name, sql_type, _ in compiled])
    options = properties.get("options")
    if options:                                       # one of whole records
        table = pa.array(options, arrow_type)

        def pick(rng, first, count):
            return table.take(pa.array(rng.integers(0, len(options), count)))
        return sql_type, pick

    def generate(rng, first, count):
        arrays = [fn(rng, first, count) for _, _, fn in compiled]
        return pa.StructArray.from_arrays(arrays, fields=list(arrow_type))
    return sql_type, generate


def _arrow_of(sql_type: SqlType) -> pa.DataType:
    from pyksqlite.common.types import to_arrow
    return to_arrow(sql_type)


def _primitive(kind: str, properties: dict, where: str) -> Generate:
    arrow_type = _ARROW[kind]
    if "options" in properties:
        values = pa.array(properties["options"], arrow_type)
        return lambda rng, first, count: values.take(pa.array(rng.integers(0, len(values), count)))
    if "iteration" in properties:
        return _iteration(kind, properties["iteration"], arrow_type)
    if "range" in properties:
        return _range(kind, properties["range"], arrow_type, where)
    if "regex" in properties:
        if kind != "string":
            raise ConnectError(400, f"Field {where}: regex needs a string field.")
        return regex_generator(str(properties["regex"]))
    return _any_value(kind, arrow_type)


def _iteration(kind: str, spec: dict, arrow_type: pa.DataType) -> Generate:
    start, step = spec.get("start", 0), spec.get("step", 1)

    def generate(rng, first, count):
        values = start + step * np.arange(first, first + count, dtype=np.float64 if kind in ("double", "float")
                                          else np.int64)
        if kind == "string":
            return pc.cast(pa.array(values), pa.string())
        if kind == "boolean":
            return pa.array(values % 2 == 1)
        return pa.array(values).cast(arrow_type)
    return generate


def _range(kind: str, spec: dict, arrow_type: pa.DataType, where: str) -> Generate:
    low, high = spec.get("min", 0), spec.get("max", None)
    if high is None or high <= low:
        raise ConnectError(400, f"Field {where}: range needs min < max.")
    if kind in ("double", "float"):
        return lambda rng, first, count: pa.array(rng.uniform(low, high, count))
    if kind not in ("int", "long"):
        raise ConnectError(400, f"Field {where}: range needs a number field.")
    return lambda rng, first, count: pa.array(rng.integers(int(low), int(high), count)).cast(arrow_type)


def _any_value(kind: str, arrow_type: pa.DataType) -> Generate:
    if kind == "boolean":
        return lambda rng, first, count: pa.array(rng.integers(0, 2, count) == 1)
    if kind in ("double", "float"):
        return lambda rng, first, count: pa.array(rng.random(count))
    if kind == "string":
        return regex_generator("[a-zA-Z0-9]{8}")
    bits = 31 if kind == "int" else 63
    return lambda rng, first, count: pa.array(rng.integers(-(2 ** bits), 2 ** bits - 1, count)).cast(arrow_type)


# ------------------------------------------------------------------------------- regex
def regex_generator(pattern: str) -> Generate:
    """Strings matching `pattern` (the subset in the module doc), a whole batch at a time."""
    atoms = _parse_regex(pattern)

    def generate(rng, first, count):
        pieces = []
        for choices, low, high in atoms:
            alphabet = np.array(choices, dtype=object)
            repeats = rng.integers(low, high + 1, count) if high > low else np.full(count, low)
            for position in range(high):
                picked = alphabet[rng.integers(0, len(alphabet), count)] if len(alphabet) > 1 \
                    else np.full(count, alphabet[0], dtype=object)
                picked[repeats <= position] = ""
                pieces.append(pa.array(picked, pa.string()))
        if not pieces:
            return pa.array([""] * count, pa.string())
        return pc.binary_join_element_wise(*pieces, "")
    return generate


def _parse_regex(pattern: str) -> list[tuple[list[str], int, int]]:
    atoms: list[tuple[list[str], int, int]] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "[":
            end = pattern.find("]", index + 1)
            if end < 0:
                raise ConnectError(400, f"Unsupported regex {pattern!r}: an unclosed [.")
            choices, index = _char_class(pattern[index + 1:end], pattern), end + 1
        elif char == "\\" and index + 1 < len(pattern):
            choices, index = _escape(pattern[index + 1]), index + 2
        elif char == ".":
            choices, index = _ALNUM, index + 1
        elif char in "()|^$*+?{}":
            raise ConnectError(400, f"Unsupported regex {pattern!r}: the embedded datagen has literals, "
                                    "[classes] and the quantifiers ? * + {n} {m,n}.")
        else:
            choices, index = [char], index + 1
        low, high, index = _quantifier(pattern, index)
        atoms.append((choices, low, high))
    return atoms


def _char_class(body: str, pattern: str) -> list[str]:
    choices: list[str] = []
    index = 0
    while index < len(body):
        if index + 2 < len(body) and body[index + 1] == "-":
            low, high = ord(body[index]), ord(body[index + 2])
            if high < low:
                raise ConnectError(400, f"Unsupported regex {pattern!r}: range {body[index:index + 3]}.")
            choices.extend(chr(code) for code in range(low, high + 1))
            index += 3
        else:
            choices.append(body[index])
            index += 1
    if not choices or body.startswith("^"):
        raise ConnectError(400, f"Unsupported regex {pattern!r}: class [{body}].")
    return choices


def _escape(char: str) -> list[str]:
    return {"d": list(string.digits), "w": _ALNUM + ["_"], "s": [" "]}.get(char, [char])


def _quantifier(pattern: str, index: int) -> tuple[int, int, int]:
    if index >= len(pattern):
        return 1, 1, index
    char = pattern[index]
    if char == "?":
        return 0, 1, index + 1
    if char == "*":
        return 0, _UNBOUNDED_REPEAT, index + 1
    if char == "+":
        return 1, _UNBOUNDED_REPEAT, index + 1
    if char == "{":
        end = pattern.find("}", index)
        body = pattern[index + 1:end] if end > 0 else ""
        try:
            parts = [int(p) if p.strip() else None for p in body.split(",")]
        except ValueError:
            raise ConnectError(400, f"Unsupported regex {pattern!r}: quantifier {{{body}}}.") from None
        low = parts[0] or 0
        high = parts[-1] if parts[-1] is not None else (low if len(parts) == 1 else low + _UNBOUNDED_REPEAT)
        if high < low or high > 64:
            raise ConnectError(400, f"Unsupported regex {pattern!r}: quantifier {{{body}}}.")
        return low, high, end + 1
    return 1, 1, index
