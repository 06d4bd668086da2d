"""A parse cache for `INSERT INTO ... VALUES` statements that differ only in their literals.

Clients insert rows with the same statement over and over (`INSERT INTO s (id, v) VALUES (1, 'a')`,
then `(2, 'b')`...). Lark parsing costs about a millisecond a statement; this cache parses each
*shape* once (the text before VALUES plus the number of values) and builds later statements of
that shape from their literal tokens alone, the way the grammar's builder turns those tokens into
AST literals.

A statement qualifies when every value is a plain literal: a string, NULL, TRUE, FALSE or a
number with an optional leading minus. Anything else (an expression, a comment, a number the
builder would reject) is left to the parser. A shape is only cached after the full parse of a
statement of that shape produced exactly the literals this module builds from the same text.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Optional

from pyksqlite.grammar import ast

_NUMBER = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_LITERAL = rf"'(?:[^']|'')*'|{_NUMBER}|NULL\b|TRUE\b|FALSE\b"
_VALUES_LIST = re.compile(rf"\s*\(\s*((?:{_LITERAL})(?:\s*,\s*(?:{_LITERAL}))*)\s*\)[\s;]*", re.IGNORECASE)
_ONE_LITERAL = re.compile(rf"\s*({_LITERAL})\s*(?:,|$)", re.IGNORECASE)
# Tokens before VALUES: quoted text is skipped whole so that a name may contain "values".
_PREFIX_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|--|/\*|[A-Za-z_][A-Za-z0-9_@]*"
                           r"|[^'\"`A-Za-z_/-]+|[/-]", re.DOTALL)
_LONG_MIN, _LONG_MAX = -2 ** 63, 2 ** 63 - 1
_MAX_SHAPES = 1024


class InsertShapeCache:
    """`parse(text)` gives the InsertValues of a statement whose shape was learned, else None;
    `learn(text, statement)` records the shape of a statement the parser produced."""

    def __init__(self):
        self._templates: dict[tuple[str, int], ast.InsertValues] = {}

    def parse(self, text: str) -> Optional[ast.InsertValues]:
        split = _split_literals(text)
        if split is None:
            return None
        prefix, tokens = split
        template = self._templates.get((prefix, len(tokens)))
        if template is None:
            return None
        values = _literals(tokens)
        if values is None:
            return None
        return dataclasses.replace(template, values=values, text=_strip_terminator(text))

    def learn(self, text: str, statement: ast.Statement) -> None:
        if not isinstance(statement, ast.InsertValues):
            return
        split = _split_literals(text)
        if split is None:
            return
        prefix, tokens = split
        if _literals(tokens) != statement.values:
            return
        if len(self._templates) >= _MAX_SHAPES:
            self._templates.clear()
        self._templates[(prefix, len(tokens))] = statement


def _split_literals(text: str) -> Optional[tuple[str, list[str]]]:
    """The text before VALUES and the literal tokens of the values list, or None if the
    statement is not an INSERT whose values are all plain literals."""
    stripped = text.lstrip()
    if stripped[:6].upper() != "INSERT":
        return None
    values_at = _values_keyword_end(stripped)
    if values_at is None:
        return None
    match = _VALUES_LIST.fullmatch(stripped, values_at)
    if match is None:
        return None
    tokens = [m.group(1) for m in _ONE_LITERAL.finditer(match.group(1))]
    return stripped[:values_at].rstrip(), tokens


def _values_keyword_end(text: str) -> Optional[int]:
    for token in _PREFIX_TOKEN.finditer(text):
        word = token.group(0)
        if word in ("--", "/*"):
            return None
        if word.upper() == "VALUES":
            return token.end()
    return None


def _literals(tokens: list[str]) -> Optional[tuple[ast.Expr, ...]]:
    try:
        return tuple(_literal(token) for token in tokens)
    except ValueError:
        return None


def _literal(token: str) -> ast.Expr:
    """The AST node the grammar's builder makes of this literal token."""
    first = token[0]
    if first == "'":
        return ast.StringLiteral(token[1:-1].replace("''", "'"))
    upper = token.upper()
    if upper == "NULL":
        return ast.NullLiteral()
    if upper in ("TRUE", "FALSE"):
        return ast.BooleanLiteral(upper == "TRUE")
    if "e" in token or "E" in token:
        value = float(token)
        if value in (float("inf"), float("-inf")):
            raise ValueError(token)  # the parser reports the overflow
        return ast.DoubleLiteral(value)
    if "." in token:
        return ast.DecimalLiteral(token)
    value = int(token)
    if not _LONG_MIN <= value <= _LONG_MAX:
        raise ValueError(token)
    return ast.IntegerLiteral(value)


def _strip_terminator(text: str) -> str:
    stripped = text.strip()
    while stripped.endswith(";"):
        stripped = stripped[:-1].rstrip()
    return stripped
