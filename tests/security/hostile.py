"""Hostile names and texts for the security tests, ksqlDB text that quotes them, and the canary
file they aim at (`Hostile`: the texts, the canary, and the check that it stayed untouched).

Every name here is a legal ksqlDB quoted identifier: back-quoted, it may hold any character
(a backtick doubled) but NUL. Each one aims at a way out of a quoted SQL token: a quote of
either kind, a backtick, a statement separator, comments, a line break, non-ASCII text, and
two full break-out attempts that would read the canary file if they ever reached DuckDB as SQL.
The names differ from each other ignoring case (DuckDB matches identifiers case-insensitively).
"""
from __future__ import annotations

import secrets
from pathlib import Path

from pyksqlite.facade.engine import Engine


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


class Hostile:
    """The texts, the canary they aim at, and the checks that it stayed untouched."""

    def __init__(self, tmp_path):
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        self.canary = self.outside / "canary.txt"
        self.secret = "CANARY-" + secrets.token_hex(12)
        self.canary.write_text(self.secret)
        self.texts = hostile_texts(self.canary)
        self.seen: list[str] = []   # every output a test looked at

    def names(self, prefix: str) -> list[str]:
        return names_with(prefix, self.texts)

    def saw(self, *outputs) -> None:
        self.seen.append(repr(outputs))

    def assert_untouched(self, engine: Engine) -> None:
        everything = "".join(self.seen) + repr(engine.processing_log())
        assert self.secret not in everything
        assert self.canary.read_text() == self.secret
        assert sorted(p.name for p in self.outside.iterdir()) == ["canary.txt"]


def records(engine, hostile, topic):
    found = [(r.key, r.value) for r in engine.read_topic_records(topic)]
    hostile.saw(found)
    return found


def create_source(engine, kind, name, key, columns, topic, fmt="JSON", partitions=1, extra=""):
    """CREATE STREAM/TABLE `name` (`key` STRING KEY, `c` TYPE...) over a new topic."""
    engine.create_topic(topic, partitions)
    key_word = "PRIMARY KEY" if kind == "TABLE" else "KEY"
    body = ", ".join([f"{ident(key)} STRING {key_word}"] + [f"{ident(c)} {t}" for c, t in columns])
    engine.execute(f"CREATE {kind} {ident(name)} ({body}) WITH (kafka_topic={lit(topic)}, "
                   f"value_format={lit(fmt)}, partitions={partitions}{extra});")
