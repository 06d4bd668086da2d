"""What every part of the AST builder shares: identifiers as ksqlDB reads them (`Name`: case
folded unless quoted, remembering how they were written), string literals, and lark's optional
children.
"""
from __future__ import annotations

from typing import Optional

from lark import Token

from pyksqlite.grammar import ast
from pyksqlite.grammar.errors import ParseError, semantic_error


class Name(str):
    """An identifier as the AST wants it (upper-cased unless quoted), remembering how it was
    written: `raw` is the source text, `quoted` whether it was quoted."""

    quoted: bool
    raw: str
    pos: Optional[ast.Position]

    def __new__(cls, value: str, raw: str, quoted: bool, token: Optional[Token] = None) -> "Name":
        name = super().__new__(cls, value)
        name.raw, name.quoted = raw, quoted
        name.pos = ast.Position(token.line, token.column) if token is not None else None
        return name


class AllQueries:
    """Marker for `ALL` in TERMINATE / PAUSE / RESUME."""


class TokenList(list):
    """The keyword tokens of a `!rule` kept for the parent to read."""

    @property
    def children(self):
        return self


def present(items) -> list:
    """Children of an optional repetition, without lark's None placeholders."""
    return [item for item in items if item is not None]


def singular_unit(word: str) -> str:
    word = word.upper()
    return word[:-1] if word.endswith("S") else word


def string_text(token: Token) -> str:
    """The value of a string literal token: quotes removed, doubled quotes single."""
    return token.value[1:-1].replace("''", "'")


def checked_name(name: str, token: Token) -> str:
    """A quoted name may hold any character but NUL, which no SQL engine keeps in a name, and
    an unpaired UTF-16 surrogate, which is not a character."""
    if "\x00" in name:
        raise semantic_error("Names cannot contain the NUL character (\\u0000).",
                             token.line, token.column)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise semantic_error("Names cannot contain an unpaired UTF-16 surrogate.",
                             token.line, token.column) from None
    return name


def raw_name(name: Name) -> str:
    return str(name) if name.quoted else name.raw


def bounded_int(text: str, bits: int, error: str) -> int:
    """`text` as an integer of a Java type of `bits` bits plus sign (int, long), else ParseError.
    The digit count is checked first: Python refuses to convert very long digit strings."""
    digits = text.lstrip("-").lstrip("0") or "0"     # leading zeros are allowed, and free
    value = int(digits) * (-1 if text.startswith("-") else 1) if len(digits) <= 20 else None
    if value is None or not -(2 ** bits) <= value < 2 ** bits:
        raise ParseError(f"{error}: {text[:40]}{'...' if len(text) > 40 else ''}")
    return value
