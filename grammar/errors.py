"""Parse errors with positions, worded like ksqlDB's (ANTLR-based) parser.

ksqlDB reports three shapes of syntax error, and the QTT expectations match on them:
- `line L:C: Syntax Error\\nExpecting {';', 'FROM'}` when a few specific tokens would fit,
- `line L:C: Syntax Error\nSyntax error at or near 'X' at line L:C` when the parser wanted an open-ended thing (an
  identifier, an expression, a type),
- `line 1:1: Syntax Error\\nUnknown statement 'X'` when the first word starts no statement.
Each is followed by `\\nStatement: <text>`. Columns are 1-based.
"""
from __future__ import annotations

from typing import Iterable, Optional

# Symbolic token names as ksqlDB's vocabulary shows them; anything else is shown quoted.
_SYMBOLIC_NAMES = {
    "IDENTIFIER": "IDENTIFIER",
    "QUOTED_IDENTIFIER": "QUOTED_IDENTIFIER",
    "BACKQUOTED_IDENTIFIER": "BACKQUOTED_IDENTIFIER",
    "STRING": "STRING",
    "INTEGER_VALUE": "INTEGER_VALUE",
    "DECIMAL_VALUE": "DECIMAL_VALUE",
    "DOUBLE_VALUE": "DOUBLE_VALUE",
    "$END": "<EOF>",
}


class ParseError(Exception):
    """A statement that does not parse (or breaks a purely syntactic rule).

    `line`/`column` are 1-based positions in the parsed text, `token` the offending token text
    ('<EOF>' at the end), `expected` the human-readable names of tokens that would have fitted.
    """

    def __init__(self, message: str, line: int = 1, column: int = 1, token: str = "",
                 expected: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.token = token
        self.expected = expected

    def __str__(self) -> str:
        return self.message

    def shifted(self, line_offset: int, column_offset: int, statement: str) -> "ParseError":
        """The same error positioned inside a larger script; the statement starts at
        (line_offset + 1, column_offset + 1) of the script."""
        line = self.line + line_offset
        column = self.column + (column_offset if self.line == 1 else 0)
        message = self.message.replace(f"line {self.line}:{self.column}", f"line {line}:{column}")
        message = _replace_statement(message, statement)
        return ParseError(message, line, column, self.token, self.expected)


def display_token(text: str) -> str:
    return "<EOF>" if text == "<EOF>" else f"'{text}'"


def display_expected(terminal_names: Iterable[str], literal_of: dict[str, str]) -> tuple[str, ...]:
    """Readable expected-token names. `literal_of` maps a keyword/punctuation terminal's name to
    its text. When an identifier would fit, the keywords that double as identifiers are left out,
    so the list stays short, as ANTLR's does."""
    names = set(terminal_names)
    identifier_fits = "IDENTIFIER" in names
    shown: list[str] = []
    for name in names:
        if name in _SYMBOLIC_NAMES:
            shown.append(_SYMBOLIC_NAMES[name])
        elif name in literal_of and not (identifier_fits and literal_of[name].isalpha()):
            shown.append(f"'{literal_of[name]}'")
    return tuple(sorted(set(shown), key=_expected_order))


def _expected_order(name: str) -> tuple[int, str]:
    # Quoted literals first, then symbolic names, as ANTLR lists its vocabulary.
    if name.startswith("'"):
        return (0 if not name[1].isalpha() else 1, name)
    return (2, name)


def syntax_error(statement: str, line: int, column: int, token: str,
                 expected: tuple[str, ...]) -> ParseError:
    """Build the ksqlDB-worded error for an unexpected token."""
    shown = display_token(token)
    if line == 1 and column == 1 and token != "<EOF>":
        body = f"line {line}:{column}: Syntax Error\nUnknown statement {shown}"
    elif any(name.endswith("IDENTIFIER") for name in expected) or not expected:
        body = (f"line {line}:{column}: Syntax Error\n"
                f"Syntax error at or near {shown} at line {line}:{column}")
    else:
        body = f"line {line}:{column}: Syntax Error\nExpecting {{{', '.join(expected)}}}"
    return ParseError(f"{body}\nStatement: {statement}", line, column, token, expected)


def semantic_error(message: str, line: Optional[int] = None, column: Optional[int] = None,
                   token: str = "") -> ParseError:
    """An error ksqlDB's AST builder raises for a statement that parses but is malformed."""
    if line is not None and column is not None:
        return ParseError(f"Line: {line}, Col: {column}: {message}", line, column, token)
    return ParseError(message, line or 1, column or 1, token)


def _replace_statement(message: str, statement: str) -> str:
    head, marker, _ = message.partition("\nStatement: ")
    return f"{head}{marker}{statement}" if marker else message
