"""Fuzz inputs for the REST API: grammar-aware mutations of real ksqlDB statements, and malformed
requests. Everything is drawn from one `random.Random`, so a seed gives the same inputs again.

Statements come from ksqlDB's QTT corpus (tests/grammar/qtt_statements.py) and examples/**/*.sql.
A statement is cut into tokens (strings, quoted names, numbers, words, operators) and mutated as a
sequence of tokens: dropped, swapped or duplicated tokens, hostile names and literals (quotes,
back quotes, `;`, `--`, NUL, newlines, unicode, very long, paths to the canary), deep nesting and
huge lists (under and over the limits), splices of other statements. Requests get wrong JSON types
in every field, invalid JSON and UTF-8, truncated bodies, wrong content types and methods.
"""
from __future__ import annotations

import dataclasses
import json
import random
import re
from pathlib import Path
from typing import Callable, Optional


ROOT = Path(__file__).resolve().parents[2]

_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?"""
                    r"""|[A-Za-z_][A-Za-z0-9_@]*|->|:=|=>|<=|>=|<>|!=|\|\||\S""")
KEYWORDS = ("SELECT", "FROM", "WHERE", "EMIT", "CHANGES", "FINAL", "GROUP", "BY", "PARTITION", "HAVING",
            "WINDOW", "TUMBLING", "HOPPING", "SESSION", "SIZE", "JOIN", "LEFT", "ON", "WITHIN", "AS",
            "CREATE", "STREAM", "TABLE", "WITH", "INSERT", "INTO", "VALUES", "DROP", "KEY", "PRIMARY",
            "STRUCT", "ARRAY", "MAP", "CAST", "CASE", "WHEN", "THEN", "ELSE", "END", "NULL", "NOT", "IN",
            "LIMIT", "PRINT", "TERMINATE", "EXPLAIN", "DESCRIBE", "SHOW", "SET", "UNSET", "DEFINE",
            "ASSERT", "RUN", "SCRIPT", "LIKE", "BETWEEN", "AND", "OR", "IS", "DISTINCT", "TOPIC")
FUNCTIONS = ("ABS", "UCASE", "CONCAT", "SUBSTRING", "COALESCE", "IFNULL", "LEN", "ROUND", "AS_VALUE",
             "ARRAY_LENGTH", "TRANSFORM", "EXTRACTJSONFIELD", "SPLIT", "TIMESTAMPTOSTRING", "COUNT",
             "SUM", "COLLECT_LIST", "LATEST_BY_OFFSET", "EXPLODE", "READ_TEXT", "READ_CSV", "GETENV")


@dataclasses.dataclass
class FuzzInput:
    label: str                      # the generator that made it
    path: str
    body: bytes = b""
    method: str = "POST"
    headers: dict = dataclasses.field(default_factory=dict)
    http2: bool = False

    def describe(self, width: int = 400) -> str:
        body = self.body[:width].decode("utf-8", "backslashreplace")
        more = f"... ({len(self.body)} bytes)" if len(self.body) > width else ""
        return f"[{self.label}] {self.method} {self.path} {self.headers or ''} {body}{more}"


# --- the corpus -----------------------------------------------------------------------------------

def corpus_cases() -> list[list[str]]:
    """ksqlDB statements in the groups they run in: the QTT cases (when the reference checkout is
    there), the example scripts and a built-in case."""
    from pyksqlite.grammar.parser import split_statements
    cases: dict[tuple[str, str], list[str]] = {}
    try:
        from tests.grammar.qtt_statements import qtt_statements
        for statement in qtt_statements():
            cases.setdefault((statement.file, statement.case), []).append(statement.text)
    except (OSError, ValueError):
        pass
    groups = list(cases.values())
    for path in sorted((ROOT / "examples").glob("**/*.sql")):
        groups.append(split_statements(path.read_text()))
    return groups + [list(BUILT_IN)]


BUILT_IN = (
    "CREATE STREAM TEST (ID BIGINT KEY, NAME STRING, V INT, S STRUCT<A INT, `b c` STRING>, "
    "L ARRAY<INT>, M MAP<STRING, DOUBLE>) WITH (KAFKA_TOPIC='test_topic', VALUE_FORMAT='JSON', PARTITIONS=1);",
    "CREATE TABLE T (ID BIGINT PRIMARY KEY, NAME STRING, V INT) WITH (KAFKA_TOPIC='t_topic', VALUE_FORMAT='JSON', PARTITIONS=1);",
    "INSERT INTO TEST (ID, NAME, V, S, L, M) VALUES (1, 'a', 5, STRUCT(A := 1, `b c` := 'x'), ARRAY[1, 2], MAP('k' := 1.5));",
    "SELECT ID, NAME, V * 2 AS W, S->A, L[1], M['k'] FROM TEST WHERE V > 1 EMIT CHANGES LIMIT 2;",
    "SELECT * FROM T WHERE ID = 1;",
    "SELECT ID, COUNT(*) FROM TEST WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY ID EMIT CHANGES;",
    "CREATE STREAM OUT AS SELECT ID, UCASE(NAME) AS N FROM TEST PARTITION BY ID;",
    "PRINT 'test_topic' FROM BEGINNING LIMIT 1;",
    "DESCRIBE TEST EXTENDED;", "EXPLAIN SELECT * FROM TEST EMIT CHANGES;", "SHOW QUERIES;",
)

# Sources the fuzz run keeps present, so that mutated queries reach the planner.
BASE_SOURCES = BUILT_IN[:3]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _renamed(parts: list[str], created: set[str], number: int) -> list[str]:
    """The tokens with the names of `created` sources and topic names given a suffix."""
    out = []
    for i, part in enumerate(parts):
        if part.upper() in created and part[0].isalpha():
            part = f"{part}_{number}"
        elif part.startswith("'") and i >= 2 and parts[i - 2].upper() in ("KAFKA_TOPIC", "TOPIC"):
            part = f"{part[:-1]}_{number}'"
        out.append(part)
    return out


def join(parts: list[str]) -> str:
    return " ".join(parts)


# --- hostile names and literals -------------------------------------------------------------------

def hostile_names(canary: Path, trap: Path) -> list[str]:
    return ["`a``b`", "`x'y`", '"q""d"', "`semi;colon`", "`dash--dash`", "`/*c*/`", "`nul\x00byte`",
            "`new\nline`", "`ünïcödé`", "`\U0001F642`", "`\u202eRTL`", "`" + "N" * 5000 + "`", "N" * 300,
            f"`../../{canary.name}`", f"`'); COPY (SELECT 1) TO '{trap}/x.csv'; --`",
            f"`') || read_text('{canary}') || ('`", "`struct_extract`", "`__rowtime`", "`k0`",
            "`\\`", "`$${x}`", "`%s%n`", "ROWTIME", "WINDOWSTART", "`\t`", "` `", "``"]


def hostile_strings(canary: Path, trap: Path) -> list[str]:
    return ["'it''s'", "'a;b'", "'--'", "'/*'", "'\x00'", "'line\nbreak'", "'ünï'", "'\U0001F642'",
            "'" + "x" * 20000 + "'", f"'{canary}'", f"'../../../../../../..{canary}'",
            f"'{trap}/out'", f"''); SELECT read_text(''{canary}''); --'",
            f"'''); COPY (SELECT 1) TO ''{trap}/y.csv''; --'", "'${var}'", "'%s%n%x'", "''",
            "'\\'", "'\\x00'"]


MAX_STATEMENT = 2_000_000     # characters of one generated statement

EXTREME_NUMBERS = ("9223372036854775808", "-9223372036854775809", "1" * 5000, "1e309", "0.0000000000000000000001",
                   "99999999999999999999999999999999999999.9", "-0", "2147483648", "1.7976931348623157E308",
                   "00000000000000000001", ".5e-400")


# --- statements -----------------------------------------------------------------------------------

class StatementFuzzer:
    def __init__(self, rng: random.Random, cases: list[list[str]], canary: Path, trap: Path):
        self.rng, self.cases = rng, [case for case in cases if case]
        self.statements = [statement for case in self.cases for statement in case]
        self.renamed = 0
        self.names, self.strings = hostile_names(canary, trap), hostile_strings(canary, trap)
        self.canary, self.trap = canary, trap
        self.mutators: list[Callable[[list[str]], list[str]]] = [
            self._drop, self._swap, self._duplicate, self._hostile_name, self._hostile_string,
            self._extreme_number, self._keyword, self._splice, self._deep, self._huge_list,
            self._comment, self._control_chars, self._function]

    def statement(self) -> str:
        return self.rng.choice(self.statements)

    def case(self) -> tuple[str, list[str]]:
        """A case's statements with one of them mutated: the statements before the queries as
        one script (its sources and topics renamed, so that cases do not collide), and the
        queries after it."""
        self.renamed += 1
        statements = [tokens(text) for text in self.rng.choice(self.cases)]
        created = {parts[i + 1].upper() for parts in statements for i, p in enumerate(parts[:-1])
                   if p.upper() in ("STREAM", "TABLE") and parts[i + 1][0].isalpha()}
        statements = [_renamed(parts, created, self.renamed) for parts in statements]
        target = self.rng.randrange(len(statements))
        for _ in range(self.rng.choice((0, 1, 1, 2))):
            statements[target] = self.mutate(statements[target])
        script = [join(parts) for parts in statements if parts and parts[0].upper() not in ("SELECT", "PRINT")]
        queries = [join(parts) for parts in statements if parts and parts[0].upper() in ("SELECT", "PRINT")]
        return " ".join(s if s.rstrip().endswith(";") else s + ";" for s in script), queries

    def mutated(self) -> str:
        parts = tokens(self.statement())
        for _ in range(self.rng.choice((1, 1, 1, 2, 3))):
            parts = self.mutate(parts)
        return join(parts)

    def mutate(self, parts: list[str]) -> list[str]:
        """One mutation of `parts` (none if it would pass MAX_STATEMENT: inputs stay sendable)."""
        mutated = self.rng.choice(self.mutators)(list(parts)) or parts
        return mutated if sum(len(p) + 1 for p in mutated) <= MAX_STATEMENT else parts

    def _at(self, parts: list[str]) -> int:
        return self.rng.randrange(len(parts)) if parts else 0

    def _where(self, parts: list[str], test) -> Optional[int]:
        spots = [i for i, p in enumerate(parts) if test(p)]
        return self.rng.choice(spots) if spots else None

    def _drop(self, parts):
        if parts:
            del parts[self._at(parts)]
        return parts

    def _swap(self, parts):
        if len(parts) > 1:
            i, j = self._at(parts), self._at(parts)
            parts[i], parts[j] = parts[j], parts[i]
        return parts

    def _duplicate(self, parts):
        if parts:
            i = self._at(parts)
            span = parts[i:i + self.rng.randint(1, 6)]
            parts[i:i] = span * self.rng.choice((1, 1, 2, 50))
        return parts

    def _hostile_name(self, parts):
        i = self._where(parts, lambda p: p[0].isalpha() or p[0] in '`"')
        if i is not None:
            parts[i] = self.rng.choice(self.names)
        return parts

    def _hostile_string(self, parts):
        i = self._where(parts, lambda p: p.startswith("'"))
        if i is not None:
            parts[i] = self.rng.choice(self.strings)
        return parts

    def _extreme_number(self, parts):
        i = self._where(parts, lambda p: p[0].isdigit())
        if i is not None:
            parts[i] = self.rng.choice(EXTREME_NUMBERS)
        return parts

    def _keyword(self, parts):
        parts.insert(self._at(parts), self.rng.choice(KEYWORDS + (";", ",", "(", ")", "->", "[", "]", "*")))
        return parts

    def _splice(self, parts):
        other = tokens(self.statement())
        if other:
            start = self.rng.randrange(len(other))
            parts[self._at(parts):self._at(parts)] = other[start:start + self.rng.randint(1, 12)]
        return parts

    def _function(self, parts):
        i = self._where(parts, lambda p: p[0].isalpha() or p[0].isdigit() or p[0] == "'")
        if i is not None:
            parts[i] = f"{self.rng.choice(FUNCTIONS)}({parts[i]})"
        return parts

    def _deep(self, parts):
        i = self._where(parts, lambda p: p[0].isalnum() or p[0] == "'")
        if i is not None:
            parts[i] = deep_expression(self.rng, parts[i])
        return parts

    def _huge_list(self, parts):
        i = self._where(parts, lambda p: p[0].isalnum())
        if i is not None:
            count = self.rng.choice((3, 3, 100, 100, 1000, 10001, 30000))
            item = self.rng.choice(("1", "'x'", "1.5", "NULL", parts[i] if len(parts[i]) < 40 else "x"))
            shape = self.rng.choice(("IN ({})", "ARRAY[{}]", "COALESCE({})", "({})"))
            parts[i] = parts[i] + " " + shape.format(", ".join([item] * count)) if shape.startswith("IN") \
                else shape.format(", ".join([item] * count))
        return parts

    def _comment(self, parts):
        parts.insert(self._at(parts), self.rng.choice(("--", "/*", "*/", "-- x\n", "/* ; */", "/**/" * 40)))
        return parts

    def _control_chars(self, parts):
        parts.insert(self._at(parts), self.rng.choice(("\x00", "\n", "\r", "\t", "\u2028", "\ufeff", "\x1b[2J",
                                                      "\U0001F642", "\u0301", "\\")))
        return parts


def deep_expression(rng: random.Random, leaf: str) -> str:
    """`leaf` nested, under or over the depth limits (64 levels, 6 of types)."""
    depth = rng.choice((5, 20, 63, 65, 200, 1000, 5000))
    shape = rng.choice(("paren", "plus", "not", "func", "case", "array", "cast", "neg", "struct", "concat"))
    if shape in ("array", "struct"):
        depth = rng.choice((3, 6, 7, 100))
    if shape == "paren":
        return "(" * depth + leaf + ")" * depth
    if shape == "plus":
        return " + ".join([leaf] * depth)
    if shape == "concat":
        return " || ".join([leaf] * depth)
    if shape == "not":
        return "NOT " * depth + leaf
    if shape == "neg":
        return "- " * depth + leaf
    if shape == "func":
        name = rng.choice(FUNCTIONS)
        return f"{name}(" * depth + leaf + ")" * depth
    if shape == "case":
        return "CASE WHEN TRUE THEN " * depth + leaf + " ELSE NULL END" * depth
    if shape == "array":
        return "ARRAY[" * depth + leaf + "]" * depth
    if shape == "struct":
        return "STRUCT(A := " * depth + leaf + ")" * depth
    return "CAST(" * depth + leaf + " AS STRING)" * depth


def deep_type(rng: random.Random) -> str:
    depth = rng.choice((3, 6, 7, 70, 1000))
    return rng.choice(("ARRAY<" * depth + "INT" + ">" * depth,
                       "STRUCT<A " * depth + "INT" + ">" * depth,
                       "MAP<STRING, " * depth + "INT" + ">" * depth))


# --- requests -------------------------------------------------------------------------------------

def _json(value) -> bytes:
    """JSON as a client may write it (integers past 64 bits, NaN and lone surrogates included)."""
    return json.dumps(value).encode()


def statement_request(rng: random.Random, text: str, endpoint: Optional[str] = None) -> FuzzInput:
    """`text` sent where it belongs (queries to /query or /query-stream), sometimes elsewhere."""
    if endpoint == "/ksql":
        return FuzzInput("case", "/ksql", _json({"ksql": text, "streamsProperties": _earliest(rng)}))
    first = (tokens(text) or [""])[0].upper()
    choice = rng.random()
    if first in ("SELECT", "PRINT") and choice < 0.85 or choice < 0.1:
        if rng.random() < 0.5:
            return FuzzInput("query", "/query", _json({"ksql": text, "streamsProperties": _earliest(rng)}))
        accept = rng.choice((None, "application/json", "application/vnd.ksql.v1+json",
                             "application/vnd.ksqlapi.delimited.v1", "text/html", "*/*"))
        return FuzzInput("query-stream", "/query-stream", _json({"sql": text, "properties": _earliest(rng)}),
                         headers={"Accept": accept} if accept else {})
    return FuzzInput("ksql", "/ksql", _json({"ksql": text, "streamsProperties": _earliest(rng)}))


def _earliest(rng: random.Random) -> dict:
    return {"ksql.streams.auto.offset.reset": "earliest"} if rng.random() < 0.5 else {}


_ENDPOINTS = {"/ksql": ("ksql", "streamsProperties"), "/query": ("ksql", "streamsProperties"),
              "/query-stream": ("sql", "properties"), "/close-query": ("queryId", None)}
_WRONG_VALUES = (None, 1, -1, 1.5, True, [], [1, "a"], {}, {"a": {"b": [1]}}, "", "x" * 10000, 2 ** 70,
                 {"ksql": "SHOW STREAMS;"}, [[[[[[[[[[[]]]]]]]]]]])


def malformed_request(rng: random.Random, fuzzer: StatementFuzzer) -> FuzzInput:
    kind = rng.choice(("field_type", "field_type", "property_value", "variables", "invalid_json",
                       "invalid_utf8", "truncated", "content_type", "method", "huge", "deep_json",
                       "not_object", "status", "valid_property", "close_query"))
    path = rng.choice(tuple(_ENDPOINTS))
    text_field, properties_field = _ENDPOINTS[path]
    good = {text_field: fuzzer.statement()} if text_field != "queryId" else {"queryId": "transient_X_1"}
    if kind == "field_type":
        field = rng.choice((text_field, properties_field or "queryId", "sessionVariables",
                            "commandSequenceNumber", "requestProperties"))
        return FuzzInput(kind, path, _json({**good, field: rng.choice(_WRONG_VALUES)}))
    if kind == "property_value":
        name = rng.choice(("ksql.streams.auto.offset.reset", "auto.offset.reset", "cache.max.bytes.buffering",
                           "ksql.query.pull.table.scan.enabled", "processing.guarantee", "ksql.service.id",
                           "ksqlite.checkpoint.interval.ms", "ksql.extension.dir", "ksql.sink.partitions",
                           "commit.interval.ms", "ksql.functions.collect_list.limit", "x" * 300, ""))
        return FuzzInput(kind, path, _json({**good, properties_field or "streamsProperties":
                                            {name: rng.choice(_WRONG_VALUES + ("earliest", "abc", "-1"))}}))
    if kind == "variables":
        variables = rng.choice(({"a": "x"}, {"a b": "x"}, {"": 1}, {"a": None}, {"a": [1]},
                                {"v": "x" * 500000}, {"a\x00": "b"}))
        return FuzzInput(kind, path, _json({**good, "sessionVariables": variables}))
    if kind == "invalid_json":
        return FuzzInput(kind, path, rng.choice((b"{", b"{'ksql': 1}", b"[", b"nul", b"{\"ksql\": \"a\",}",
                                                 b"\"just a string\"", b"{\"ksql\": NaN}", b"{\"a\":1}{\"b\":2}")))
    if kind == "invalid_utf8":
        return FuzzInput(kind, path, b'{"' + text_field.encode() + b'": "\xff\xfe\xc3\x28"}')
    if kind == "truncated":
        body = _json(good)
        return FuzzInput(kind, path, body[:rng.randrange(1, max(2, len(body)))])
    if kind == "content_type":
        return FuzzInput(kind, path, _json(good), headers={"Content-Type": rng.choice(
            ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
             "application/json; charset=latin-1", "\x01\x02", "a" * 2000))})
    if kind == "method":
        return FuzzInput(kind, path, _json(good), method=rng.choice(("GET", "PUT", "DELETE", "PATCH", "OPTIONS")))
    if kind == "huge":
        size = rng.choice((1_100_000, 1_100_000, 1_100_000, 9 * 1024 * 1024))
        return FuzzInput(kind, path, _json({text_field: "SELECT " + "1," * (size // 2) + "1 FROM TEST;"}))
    if kind == "deep_json":
        depth = rng.choice((100, 1000, 5000))
        return FuzzInput(kind, path, b'{"' + text_field.encode() + b'": "SHOW STREAMS;", "streamsProperties": '
                         + b"[" * depth + b"]" * depth + b"}")
    if kind == "not_object":
        return FuzzInput(kind, path, rng.choice((b"[]", b"1", b"null", b"true", b'"x"', b"[{}]")))
    if kind == "status":
        name = rng.choice(fuzzer.names)
        return FuzzInput(kind, f"/status/stream/{_path_part(name)}/create", method="GET")
    if kind == "valid_property":
        return FuzzInput(kind, f"/is_valid_property/{_path_part(rng.choice(fuzzer.names + ['ksql.service.id']))}",
                         method="GET")
    return FuzzInput(kind, "/close-query", _json({"queryId": rng.choice(_WRONG_VALUES + ("../../x",))}))


def _path_part(text: str) -> str:
    from urllib.parse import quote
    return quote(text[:2000], safe="")


def inserts_request(rng: random.Random, fuzzer: StatementFuzzer) -> FuzzInput:
    target = rng.choice(("TEST", "test", "T", "NOPE", "`TEST`", "", None, 5, "x" * 1000))
    lines = [_json({"target": target, "properties": rng.choice(({}, None, [], "x"))})]
    values = (1, -1, 2 ** 63, 1.5e308, "a", "", "x" * 5000, None, True, [1, 2], {"A": 1}, {"b c": "x"},
              ["x"], {"k": 1.5}, "2024-01-01", "\x00", "'; DROP STREAM TEST; --")
    for _ in range(rng.randint(0, 8)):
        row = {rng.choice(("ID", "NAME", "V", "S", "L", "M", "ROWTIME", "nope", "id", "`ID`")): rng.choice(values)
               for _ in range(rng.randint(0, 6))}
        if rng.random() < 0.1:
            row["NAME"] = float("nan")
        lines.append(rng.choice((_json(row), b"{bad json", b"[1,2]", b"\xff\xfe", b"null", b"")))
    return FuzzInput("inserts", "/inserts-stream", b"\n".join(lines) + b"\n", http2=True)


def struct_field_injection(fuzzer: StatementFuzzer) -> tuple[str, str]:
    """A stream whose struct field name holds SQL reading the canary, and the query that reads
    the field. Open on this branch (issue 12 item 1, the quoting in engine/expressions): the fuzz
    test sends it when KSQLITE_FUZZ_KNOWN_OPEN=1, and by default once that fix has landed."""
    name = f"a') || (SELECT content FROM read_text('{fuzzer.canary}')) || ('".replace("`", "``")
    script = (f"CREATE STREAM XI (ID INT KEY, S STRUCT<`{name}` STRING>) WITH (KAFKA_TOPIC='xi', "
              f"VALUE_FORMAT='JSON', PARTITIONS=1); INSERT INTO XI (ID, S) VALUES (1, STRUCT(`{name}` := 'v'));")
    return script, f"SELECT S->`{name}` AS V FROM XI;"


def direct_attack(rng: random.Random, fuzzer: StatementFuzzer) -> str:
    """Statements aimed at the canary and the file system outside the data dir."""
    canary, trap = fuzzer.canary, fuzzer.trap
    relative = "../" * 12 + str(canary).lstrip("/")
    return rng.choice((
        f"SELECT READ_TEXT('{canary}') FROM TEST EMIT CHANGES LIMIT 1;",
        f"SELECT * FROM TEST WHERE NAME = (SELECT '{canary}');",
        f"PRINT '{relative}' FROM BEGINNING LIMIT 1;",
        f"CREATE STREAM X1 (A INT) WITH (KAFKA_TOPIC='{relative}', VALUE_FORMAT='JSON', PARTITIONS=1);",
        f"CREATE STREAM X2 WITH (KAFKA_TOPIC='test_topic', VALUE_FORMAT='AVRO', VALUE_SCHEMA_FULL_NAME='{relative}');",
        f"CREATE STREAM X3 AS SELECT * FROM TEST WITH (QUERY_ID='{relative}');",
        f"CREATE STREAM X4 WITH (KAFKA_TOPIC='{trap}/t', VALUE_FORMAT='JSON') AS SELECT * FROM TEST;",
        f"RUN SCRIPT '{canary}';",
        f"CREATE STREAM X5 (S STRUCT<`a'') || read_text(''{canary}'') || (''` INT>) WITH "
        "(KAFKA_TOPIC='x5', VALUE_FORMAT='JSON', PARTITIONS=1);",
        f"SELECT S->`A'') || read_text(''{canary}'') || (''` FROM TEST EMIT CHANGES LIMIT 1;",
        f"SELECT CAST(NAME AS STRUCT<`x'', read_text(''{canary}'')) --` INT>) FROM TEST EMIT CHANGES LIMIT 1;",
        f"INSERT INTO TEST (ID, NAME) VALUES (1, '{canary}');",
        f"SET 'ksql.extension.dir'='{trap}';",
        f"DEFINE x = '{canary}'; SELECT '${{x}}' FROM TEST EMIT CHANGES LIMIT 1;",
        f"SELECT EXTRACTJSONFIELD(NAME, '$.{'a.' * 2000}b') FROM TEST EMIT CHANGES LIMIT 1;",
        f"ASSERT TOPIC '{relative}' TIMEOUT 1 SECONDS;",
        f"DESCRIBE FUNCTION `{relative}`;",
        f"CREATE TYPE `{relative}` AS STRUCT<A {deep_type(rng)}>;",
        f"CREATE STREAM X6 (A {deep_type(rng)}) WITH (KAFKA_TOPIC='x6', VALUE_FORMAT='JSON', PARTITIONS=1);",
    ))
