"""Hostile names and texts for the security tests, and ksqlDB text that quotes them.

Every name here is a legal ksqlDB quoted identifier: back-quoted, it may hold any character
(a backtick doubled) but NUL. Each one aims at a way out of a quoted SQL token: a quote of
either kind, a backtick, a statement separator, comments, a line break, non-ASCII text, and
two full break-out attempts that would read the canary file if they ever reached DuckDB as SQL.
The names differ from each other ignoring case (DuckDB matches identifiers case-insensitively).
"""
from __future__ import annotations

from pathlib import Path


def hostile_texts(canary: Path) -> list[str]:
    """Texts aimed at SQL quoting; the last two read `canary` if pasted unquoted."""
    return [
        "it's",
        'say "hi"',
        "back`tick",
        "semi;colon",
        "dash -- comment",
        "slash /* comment */",
        "new\nline\ttab",
        "ünïcødé ✓ 名前 🚀",
        f"x') || (SELECT content FROM read_text('{canary}')) || ('",
        f'x" := (SELECT content FROM read_text(\'{canary}\')), "y',
    ]


def ident(name: str) -> str:
    """`name` as a ksqlDB back-quoted identifier."""
    return "`" + name.replace("`", "``") + "`"


def lit(text: str) -> str:
    """`text` as a ksqlDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def names_with(prefix: str, texts: list[str]) -> list[str]:
    """One distinct name per hostile text, so that several can be columns of one source."""
    return [f"{prefix}{i} {text}" for i, text in enumerate(texts)]
