"""Parse ksqlDB SQL text into the typed AST of `pyksqlite.grammar.ast`.

The pipeline: `split_statements` cuts a script on `;`, `substitute_variables` expands `${name}`,
lark parses one statement with the LALR grammar in `ksql.lark`, and `pyksqlite.grammar.builder.AstBuilder`
turns the tree into frozen AST nodes. Syntax errors become `pyksqlite.grammar.errors.ParseError` worded like
ksqlDB's.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Optional

import lark
from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from pyksqlite.grammar import ast
from pyksqlite.grammar.builder import AstBuilder
from pyksqlite.grammar.errors import ParseError, display_expected, syntax_error

_GRAMMAR_PATH = Path(__file__).with_name("ksql.lark")


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

def parse(text: str, *, client_statements: bool = True) -> list[ast.Statement]:
    """Parse a script of `;`-separated statements; error positions are relative to the script."""
    statements = []
    for piece in _split_with_positions(text):
        try:
            statements.append(parse_statement(piece.text, client_statements=client_statements))
        except ParseError as error:
            raise error.shifted(piece.line - 1, piece.column - 1, piece.raw) from None
    return statements


# `DESCRIBE EXTENDED x` (as clients such as ksql-python send it) is `DESCRIBE x EXTENDED`. It is
# rewritten before parsing because EXTENDED is also a valid name, which LALR cannot tell apart.
_DESCRIBE_EXTENDED_FIRST = re.compile(r"^(\s*DESCRIBE\s+)(EXTENDED)(\s+)([^\s;]+)(\s*;?\s*)$", re.I)


def _normalize(text: str) -> str:
    match = _DESCRIBE_EXTENDED_FIRST.match(text)
    if match and match.group(4).upper() not in ("STREAMS", "TABLES", "FUNCTION"):
        head, extended, space, name, tail = match.groups()
        return f"{head}{name}{space}{extended}{tail}"
    return text


def parse_statement(text: str, *, client_statements: bool = True) -> ast.Statement:
    """Parse exactly one statement (a trailing `;` is allowed). The node's `text` is the statement
    without the trailing `;`.

    RUN SCRIPT (a CLI command) and ASSERT VALUES / NULL VALUES / STREAM / TABLE (test-runner
    statements) are client-side: with `client_statements=False` they are rejected the way
    ksqlDB's server parser rejects them."""
    text = _normalize(text)
    statement_text = _strip_terminator(text)
    if not client_statements:
        _reject_client_statement(statement_text)
    statement = _build(_parse_tree(text, "start"), text)
    return dataclasses.replace(statement, text=statement_text)


_CLIENT_STATEMENT = re.compile(r"(RUN)\b|ASSERT\s+(VALUES|NULL|STREAM|TABLE)\b", re.IGNORECASE)


def _reject_client_statement(text: str) -> None:
    """The server grammar has no RUN, and its ASSERT only takes TOPIC or SCHEMA."""
    match = _CLIENT_STATEMENT.match(text)
    if match is None:
        return
    group = 1 if match.group(1) else 2
    column = match.start(group) + 1
    raise syntax_error(text, 1, column, match.group(group), ())


def parse_expression(text: str) -> ast.Expr:
    return _build(_parse_tree(text, "expression_only"), text)


def parse_type(text: str) -> ast.SqlType:
    return _build(_parse_tree(text, "type_only"), text)


def split_statements(text: str) -> list[str]:
    """Split a script into statement texts on `;`, ignoring `;` inside strings, quoted
    identifiers and comments. Texts are stripped, without the `;`; empty ones are dropped."""
    return [piece.text for piece in _split_with_positions(text)]


_VARIABLE_REFERENCE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")


def substitute_variables(text: str, variables: dict[str, str]) -> str:
    """Replace `${name}` (name matched case-insensitively) by its value; unknown names stay."""
    by_upper_name = {name.upper(): value for name, value in variables.items()}

    def replace(match: re.Match) -> str:
        return by_upper_name.get(match.group(1).upper(), match.group(0))

    return _VARIABLE_REFERENCE.sub(replace, text)


# --------------------------------------------------------------------------------------------
# Statement splitting
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Piece:
    text: str     # stripped, without the `;`
    raw: str      # as written, with its `;` when it had one (ksqlDB quotes it so in errors)
    line: int     # 1-based position of the piece's first character in the script
    column: int


_CLOSERS = {"'": "'", '"': '"', "`": "`"}


def _split_with_positions(text: str) -> list[_Piece]:
    pieces, start = [], 0
    for end in _terminator_offsets(text):
        _append_piece(pieces, text, start, end, with_terminator=end < len(text))
        start = end + 1
    return pieces


def _terminator_offsets(text: str) -> Iterator[int]:
    """Offsets of the statement-ending `;` characters, then len(text)."""
    index = 0
    while index < len(text):
        char = text[index]
        if char in _CLOSERS:
            index = _skip_quoted(text, index, _CLOSERS[char])
        elif text.startswith("--", index):
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
        elif text.startswith("/*", index):
            close = text.find("*/", index + 2)
            index = len(text) if close < 0 else close + 2
        else:
            if char == ";":
                yield index
            index += 1
    yield len(text)


def _skip_quoted(text: str, index: int, closer: str) -> int:
    """Index just after the quoted run opening at `index` (a doubled closer is an escape)."""
    index += 1
    while index < len(text):
        if text[index] == closer:
            if text.startswith(closer * 2, index):
                index += 2
                continue
            return index + 1
        index += 1
    return index


def _append_piece(pieces: list[_Piece], text: str, start: int, end: int,
                  with_terminator: bool) -> None:
    body = text[start:end]
    stripped = body.strip()
    if not stripped or not _has_code(stripped):
        return
    first = start + (len(body) - len(body.lstrip()))
    line = text.count("\n", 0, first) + 1
    column = first - (text.rfind("\n", 0, first) + 1) + 1
    raw = stripped + (";" if with_terminator else "")
    pieces.append(_Piece(stripped, raw, line, column))


def _has_code(stripped: str) -> bool:
    """False for a piece made only of comments (a script's trailing comment after its last `;`)."""
    without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", "", stripped, flags=re.DOTALL)
    return bool(without_comments.strip())


def _strip_terminator(text: str) -> str:
    stripped = text.strip()
    while stripped.endswith(";"):
        stripped = stripped[:-1].rstrip()
    return stripped


# --------------------------------------------------------------------------------------------
# Lark
# --------------------------------------------------------------------------------------------

class _ReservedWords:
    """Lark post-lexer: a word the parser cannot take as a keyword in its state is lexed as an
    IDENTIFIER; if the word is reserved it is turned back into its keyword token, so the parser
    rejects it (`SELECT FROM t` fails at FROM instead of reading a column named FROM)."""

    always_accept = ("IDENTIFIER",)

    def __init__(self) -> None:
        self.keyword_terminals: dict[str, str] = {}

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        for token in stream:
            if token.type == "IDENTIFIER":
                keyword = self.keyword_terminals.get(token.value.upper())
                if keyword is not None:
                    token = Token.new_borrow_pos(keyword, token.value, token)
            yield token


def _cache_file() -> Optional[str]:
    """Where lark keeps the analysed LALR tables (building them takes seconds), keyed by the
    grammar's content so an edited grammar is analysed again; None if no cache dir is writable."""
    digest = hashlib.sha256(_GRAMMAR_PATH.read_bytes() + lark.__version__.encode()).hexdigest()[:16]
    directory = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ksqlite"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(directory / f"grammar-{digest}.lark-cache")


@lru_cache(maxsize=1)
def _lark() -> Lark:
    post_lexer = _ReservedWords()
    parser = Lark(_GRAMMAR_PATH.read_text(), parser="lalr", lexer="contextual",
                  start=["start", "expression_only", "type_only"], maybe_placeholders=True,
                  propagate_positions=True, postlex=post_lexer, cache=_cache_file())
    post_lexer.keyword_terminals = _reserved_keyword_terminals(parser)
    return parser


def _reserved_keyword_terminals(parser: Lark) -> dict[str, str]:
    nonreserved = {symbol.name for rule in parser.rules if rule.origin.name == "nonreserved"
                   for symbol in rule.expansion}
    return {text.upper(): name for name, text in _literal_terminals(parser).items()
            if text.isalpha() and name not in nonreserved}


@lru_cache(maxsize=1)
def _literal_texts() -> dict[str, str]:
    return {name: text.upper() if text.isalpha() else text
            for name, text in _literal_terminals(_lark()).items()}


def _literal_terminals(parser: Lark) -> dict[str, str]:
    """Terminal name -> text, for terminals that are fixed strings (keywords, punctuation)."""
    return {terminal.name: terminal.pattern.value for terminal in parser.terminals
            if terminal.pattern.type == "str"}


def _parse_tree(text: str, start: str):
    try:
        return _lark().parse(text, start=start)
    except UnexpectedInput as error:
        raise _to_parse_error(error, text) from None


def _to_parse_error(error: UnexpectedInput, text: str) -> ParseError:
    statement = text.strip()
    if isinstance(error, UnexpectedToken):
        token = "<EOF>" if error.token.type == "$END" else str(error.token.value)
        line, column = _error_position(error, text)
        expected = display_expected(_acceptable_terminals(error), _literal_texts())
        return syntax_error(statement, line, column, token, expected)
    if isinstance(error, UnexpectedCharacters):
        token = text[error.pos_in_stream] if error.pos_in_stream < len(text) else "<EOF>"
        expected = display_expected(error.allowed or (), _literal_texts())
        return syntax_error(statement, error.line, error.column, token, expected)
    return syntax_error(statement, *_end_position(text), "<EOF>", ())


def _acceptable_terminals(error: UnexpectedToken) -> set[str]:
    """What the parser could take at the error, after any pending reductions. When the
    contextual lexer raised the error its `expected` is the lexer's set, which always holds
    IDENTIFIER (see _ReservedWords), so ask the parser."""
    interactive = getattr(error, "interactive_parser", None)
    if interactive is None:
        return set(error.expected)
    return set(interactive.accepts())


def _error_position(error: UnexpectedToken, text: str) -> tuple[int, int]:
    if error.token.type == "$END" or error.line in (None, -1):
        return _end_position(text)
    return error.line, error.column


def _end_position(text: str) -> tuple[int, int]:
    body = text.rstrip()
    line = body.count("\n") + 1
    return line, len(body) - (body.rfind("\n") + 1) + 1


def _build(tree, text: str):
    try:
        return AstBuilder(text).transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, ParseError):
            raise error.orig_exc from None
        raise
