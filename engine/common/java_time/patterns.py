"""java.time.DateTimeFormatter patterns, the one place ksqlite reads them.

Every function and property that takes a Java date-time pattern (FORMAT_*/PARSE_*,
TIMESTAMPTOSTRING, STRINGTOTIMESTAMP, DATETOSTRING, STRINGTODATE, the TIMESTAMP_FORMAT of a
source) compiles it here into tokens, with the JDK's rules for letters and widths
(DateTimeFormatterBuilder.appendPattern): a letter run is one field whose count picks its
printer (`y` and `yyy` the full year at least 1 and 3 digits wide, `yy` two digits based on
2000, `MMM` a short month name...), `'text'` is literal text and `''` a quote, `[...]` an
optional section, `pN` pads the next field to N characters, and any other non-letter is
itself. A pattern the JDK rejects is rejected with the JDK's message.

`java_time_format` prints and `java_time_parse` reads whole Arrow arrays with these tokens.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Union

# The largest count the JDK accepts per letter (None: no limit below 19 digits).
_MAX_COUNT = {"G": 5, "M": 5, "L": 5, "Q": 5, "q": 5, "E": 5, "e": 5, "c": 5, "d": 2, "h": 2,
              "H": 2, "k": 2, "K": 2, "m": 2, "s": 2, "D": 3, "F": 1, "a": 1, "W": 1, "w": 2,
              "S": 9, "z": 4, "X": 5, "x": 5, "Z": 5, "y": 19, "u": 19, "Y": 19, "n": 19,
              "N": 19, "A": 19, "g": 19}
_EXACT_COUNTS = {"V": (2,), "v": (1, 4), "O": (1, 4), "c": (1, 3, 4, 5)}
_RESERVED = "#{}"

DATE_LETTERS = frozenset("GuyDMLdQqYwWEecFg")
TIME_LETTERS = frozenset("ahKkHmsSnNA")
ZONE_LETTERS = frozenset("VvzOXxZ")


class PatternError(ValueError):
    """A pattern the JDK's DateTimeFormatterBuilder rejects (IllegalArgumentException)."""


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Field:
    letter: str
    count: int
    pad: int = 0   # `p` before the field: pad with spaces to this width


@dataclass(frozen=True)
class Optional_:
    tokens: tuple["Token", ...]


Token = Union[Literal, Field, Optional_]


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> tuple[Token, ...]:
    """The tokens of a Java date-time pattern; PatternError where the JDK rejects it."""
    stack: list[list[Token]] = [[]]
    i, pad = 0, 0
    while i < len(pattern):
        ch = pattern[i]
        if "A" <= ch <= "Z" or "a" <= ch <= "z":
            end = i
            while end < len(pattern) and pattern[end] == ch:
                end += 1
            count, i = end - i, end
            if ch == "p":   # pads the next field to `count` characters (the JDK's padNext)
                if i >= len(pattern) or not pattern[i].isalpha():
                    raise PatternError(f"Pad letter 'p' must be followed by valid pad pattern: {pattern}")
                pad = count
                continue
            _check_letter(ch, count)
            stack[-1].append(Field(ch, count, pad))
            pad = 0
            continue
        if pad:
            raise PatternError(f"Pad letter 'p' must be followed by valid pad pattern: {pattern}")
        if ch == "'":
            text, i = _quoted(pattern, i)
            _append_literal(stack[-1], text)
        elif ch == "[":
            stack.append([])
            i += 1
        elif ch == "]":
            if len(stack) == 1:
                raise PatternError("Pattern invalid as it contains ] without previous [")
            section = Optional_(tuple(stack.pop()))
            stack[-1].append(section)
            i += 1
        elif ch in _RESERVED:
            raise PatternError(f"Pattern includes reserved character: '{ch}'")
        else:
            _append_literal(stack[-1], ch)
            i += 1
    if pad:
        raise PatternError(f"Pad letter 'p' must be followed by valid pad pattern: {pattern}")
    while len(stack) > 1:   # the JDK closes sections left open at the end
        section = Optional_(tuple(stack.pop()))
        stack[-1].append(section)
    return tuple(stack[0])


def _check_letter(letter: str, count: int) -> None:
    if letter not in _MAX_COUNT and letter not in _EXACT_COUNTS:
        raise PatternError(f"Unknown pattern letter: {letter}")
    exact = _EXACT_COUNTS.get(letter)
    if exact is not None and count not in exact:
        if letter == "V":
            raise PatternError("Pattern letter count must be 2: V")
        if letter == "c":
            raise PatternError(f"Invalid pattern \"{letter * count}\"")
        raise PatternError(f"Pattern letter count must be 1 or 4: {letter}")
    if count > _MAX_COUNT.get(letter, 19):
        raise PatternError(f"Too many pattern letters: {letter}")


def _quoted(pattern: str, start: int) -> tuple[str, int]:
    """The literal text of the quoted section at `start` and the index after it: `''` is a quote,
    inside a section or outside one."""
    if pattern.startswith("''", start):
        return "'", start + 2
    text, i = [], start + 1
    while i < len(pattern):
        if pattern.startswith("''", i):
            text.append("'")
            i += 2
        elif pattern[i] == "'":
            return "".join(text), i + 1
        else:
            text.append(pattern[i])
            i += 1
    raise PatternError(f"Pattern ends with an incomplete string literal: {pattern}")


def _append_literal(tokens: list[Token], text: str) -> None:
    if tokens and isinstance(tokens[-1], Literal):
        tokens[-1] = Literal(tokens[-1].text + text)
    else:
        tokens.append(Literal(text))


def letters_of(tokens: tuple[Token, ...], required_only: bool = False) -> set[str]:
    """The field letters the tokens use (outside optional sections only, if asked)."""
    found: set[str] = set()
    for token in tokens:
        if isinstance(token, Field):
            found.add(token.letter)
        elif isinstance(token, Optional_) and not required_only:
            found |= letters_of(token.tokens)
    return found


def check_pattern(pattern: str) -> None:
    """Raise PatternError for a pattern the JDK rejects."""
    compile_pattern(pattern)
