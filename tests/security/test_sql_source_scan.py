"""No code in engine/ or shell/ pastes text inside SQL quotes itself: `pyksqlite.common.duck`'s
`quote_identifier` and `quote_string` are the only way a name or a text enters a quoted SQL token.

The scan reads every module's syntax tree and flags:
- an f-string placeholder that sits inside an open `'...'` or `"..."` of the f-string's own text
  (`f"struct_extract(x, '{name}')"`, `f'"{name}" := 1'`, `f"'a {x} b'"`);
- a concatenation of a string that opens or closes a quote with a computed value
  (`"'" + text + "'"`);
- a `str.format` or `%` template with a placeholder inside quotes (`"'{}'".format(x)`).
Error messages (raise, exception constructors, logging) are not SQL and are skipped. Anything
else that is not SQL is allow-listed below with the reason. Run this file to list the findings:
`python tests/security/test_sql_source_scan.py`.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("engine", "shell")
QUOTES = ("'", '"')

# (path, a fragment of the flagged source) -> why it is not SQL built from outside text.
ALLOWED = {
    ("engine/common/duck.py", "name.replace('\"', '\"\"')"): "the identifier quoting function itself",
    ("engine/common/duck.py", "text.replace(\"'\", \"''\")"): "the string literal quoting function itself",
    ("engine/common/duck.py", "shown"): "an error message's rendering of a name",
    ("engine/runtime/executor.py", "Did you mean"): "an error message (ksqlDB's hint)",
    ("engine/expressions/structures.py", "Invalid Case expression"): "an error message, raised by the caller",
    ("engine/expressions/builtins_json.py", "name.replace('\"', '\\\\\"')"):
        "a key in JSONPath text, which then enters SQL through quote_string",
    ("engine/facade/insert_values.py", "(?:[^']|'')*"): "a regular expression matching ksqlDB literals, not SQL",
    ("engine/serde/delimited.py", "Failed to parse"): "a processing-log message",
    ("engine/log/embedded/partition.py", "partition {self.index}"): "a partition's label in log messages",
    ("engine/log/embedded/recovery.py", "acknowledged records missing"): "a damaged range's description",
    ("engine/serde/protobuf_format.py", "import "): "protobuf schema text (.proto), not SQL",
    ("engine/serde/protobuf_format.py", "confluent.field_meta"): "protobuf schema text, numbers only",
    ("shell/runners/sqltest.py", "testcase"): "JUnit XML report; attributes go through quoteattr",
    ("shell/runners/sqltest.py", "testsuite"): "JUnit XML report; numbers only",
}

_MESSAGE_CALLS = re.compile(r"(Exception|Error|Warning)$|^(record|warning|info|debug|error|exception|print|say)$")


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _is_message(parents: list[ast.AST]) -> bool:
    """Inside a raise, an exception constructor or a logging call: text for people, not SQL."""
    for parent in parents:
        if isinstance(parent, ast.Raise):
            return True
        if isinstance(parent, ast.Call):
            name = _call_name(parent)
            if _MESSAGE_CALLS.search(name) or (name == "__init__" and "super" in ast.unparse(parent.func)):
                return True
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and "message" in parent.name:
            return True
    return False


def _opens_quote(text: str) -> bool:
    """Whether `text` (SQL read so far) leaves a `'...'` or `"..."` token open. A doubled quote
    closes and reopens, so it keeps the token open, as SQL reads it."""
    open_quote = None
    for char in text:
        if open_quote is None and char in QUOTES:
            open_quote = char
        elif char == open_quote:
            open_quote = None
    return open_quote is not None


def _fstring_inside_quotes(node: ast.JoinedStr) -> bool:
    seen = ""
    for part in node.values:
        if isinstance(part, ast.Constant):
            seen += part.value
        elif _opens_quote(seen):
            return True
        else:
            seen += "x"
    return False


def _concat_quotes(node: ast.BinOp) -> bool:
    def constant(side):
        return isinstance(side, ast.Constant) and isinstance(side.value, str)
    left, right = node.left, node.right
    if constant(left) and not constant(right) and left.value.endswith(QUOTES):
        return True
    return constant(right) and not constant(left) and right.value.startswith(QUOTES)


_TEMPLATE_IN_QUOTES = re.compile(r"""['"](\{[^}]*\}|%[sdr])['"]?|['"]?(\{[^}]*\}|%[sdr])['"]""")


def _template_in_quotes(node: ast.AST) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        target = node.func.value
        return isinstance(target, ast.Constant) and isinstance(target.value, str) and \
            bool(_TEMPLATE_IN_QUOTES.search(target.value))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) \
            and isinstance(node.left.value, str):
        return bool(_TEMPLATE_IN_QUOTES.search(node.left.value))
    return False


def findings_in(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, parents: list[ast.AST]) -> None:
        flagged = (isinstance(node, ast.JoinedStr) and _fstring_inside_quotes(node)
                   or isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and _concat_quotes(node)
                   or _template_in_quotes(node))
        if flagged and not _is_message(parents):
            found.append((node.lineno, ast.unparse(node)))
            return  # one finding per expression
        for child in ast.iter_child_nodes(node):
            visit(child, parents + [node])

    visit(ast.parse(path.read_text(), str(path)), [])
    return found


def unexplained_findings() -> list[str]:
    problems = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for line, source in findings_in(path):
                if any(p == relative and fragment in source for p, fragment in ALLOWED):
                    continue
                problems.append(f"{relative}:{line}: {source[:160]}")
    return problems


def test_no_code_pastes_text_inside_sql_quotes():
    problems = unexplained_findings()
    assert not problems, ("Quote names and text with engine.duck.quote_identifier / quote_string "
                          "(or allow-list a non-SQL case with its reason):\n" + "\n".join(problems))


def test_the_scan_catches_the_known_shapes(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "a = f\"struct_extract({x}, '{name}')\"\n"
        "b = f'\"{name}\" := {value}'\n"
        "c = \"'\" + text + \"'\"\n"
        "d = \"'{}'\".format(text)\n"
        "e = \"WHERE x = '%s'\" % text\n"
        "f = f\"'a {x} b'\"\n"
        "ok1 = f\"struct_extract({x}, {quote_string(name)})\"\n"
        "ok2 = f\"'{{' || {members} || '}}'\"\n"
        "ok3 = f\"coalesce({x}, 'null')\"\n"
        "def g():\n    raise ValueError(f\"Column '{name}' cannot be resolved.\")\n")
    lines = [line for line, _ in findings_in(sample)]
    assert lines == [1, 2, 3, 4, 5, 6]


def test_only_the_boundary_connects_to_duckdb():
    connects = [f"{path.relative_to(ROOT)}" for top in SCANNED for path in (ROOT / top).rglob("*.py")
                if "duckdb.connect(" in path.read_text()]
    assert connects == ["engine/common/duck.py"]


if __name__ == "__main__":
    print("\n".join(unexplained_findings()) or "no findings")
