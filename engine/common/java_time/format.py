"""Formatting with java.time patterns, a whole Arrow array at a time.

The tokens of `java_time` print as DateTimeFormatter's printers do in the English locale: each
field is one numpy computation and one Arrow string array for the batch, and the pieces are
joined per row. What is being formatted decides which fields exist (ksqlDB formats a
ZonedDateTime for TIMESTAMPs, a LocalDate for DATEs, a LocalTime for TIMEs): a field that does
not exist fails the call (NULL; the JDK throws "Unsupported field"), and an optional section
`[...]` prints only if all of its fields exist. A value wider than a fixed-width field fails the
call as well. Patterns may differ per row: each distinct pattern formats its rows.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.java_time.patterns import (DATE_LETTERS, TIME_LETTERS, ZONE_LETTERS, Field, Literal, Optional_,
                                          PatternError, compile_pattern, letters_of)
from pyksqlite.common.java_time.fields import DAYS, MONTHS, QUARTER_NAMES, Fields
from pyksqlite.common.java_time.zones import offset_seconds, zone_id_text, zone_names

TIMESTAMP, DATE, TIME = "timestamp", "date", "time"
_AVAILABLE = {TIMESTAMP: DATE_LETTERS | TIME_LETTERS | ZONE_LETTERS, DATE: DATE_LETTERS, TIME: TIME_LETTERS}


class _Unprintable(Exception):
    """The pattern cannot print this kind of value (the JDK's UnsupportedTemporalTypeException)."""


class _Batch:
    """The values being formatted: their fields, offsets and zones, computed once per batch."""

    def __init__(self, utc_millis: np.ndarray, zones: Optional[np.ndarray], kind: str):
        self.kind = kind
        self.zones = zones
        self.offsets = offset_seconds(utc_millis, zones) if zones is not None else np.zeros(len(utc_millis), np.int64)
        self.utc_millis = utc_millis
        self.fields = Fields(utc_millis + self.offsets * 1000)
        self.too_wide = np.zeros(len(utc_millis), dtype=bool)


def format_millis(millis: pa.Array, patterns: pa.Array, zones: Optional[pa.Array], kind: str) -> pa.Array:
    """Strings of instants (epoch milliseconds, UTC) shown in `zones` (zone ids per row, or None
    for UTC), or of dates/times (epoch milliseconds of the local value) for `kind` date/time."""
    millis, patterns = _combined(millis), _combined(patterns)
    zones = _combined(zones) if zones is not None else None
    values = np.asarray(pc.fill_null(millis.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    valid = ~np.asarray(millis.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    valid &= ~np.asarray(patterns.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    zone_values = None
    if zones is not None:
        valid &= ~np.asarray(zones.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        zone_values = np.asarray(pc.fill_null(zones.cast(pa.string()), "UTC").to_numpy(zero_copy_only=False), dtype=object)
    out = np.full(len(values), None, dtype=object)
    pattern_values = patterns.cast(pa.string())
    distinct = pc.unique(pattern_values).to_pylist()
    if len(distinct) == 1 and distinct[0] is not None:   # a literal pattern: every row
        rows = np.flatnonzero(valid)
        out[rows] = _format_rows(values[rows], zone_values[rows] if zone_values is not None else None,
                                 distinct[0], kind)
        return pa.array(out, pa.string())
    for pattern in distinct:
        if pattern is None:
            continue
        rows = np.flatnonzero(np.asarray(pc.fill_null(pc.equal(pattern_values, pattern), False)
                                         .to_numpy(zero_copy_only=False), dtype=bool) & valid)
        if len(rows):
            out[rows] = _format_rows(values[rows], zone_values[rows] if zone_values is not None else None,
                                     pattern, kind)
    return pa.array(out, pa.string())


def format_with_pattern(millis: np.ndarray, pattern: str, kind: str, zones: Optional[np.ndarray] = None) -> np.ndarray:
    """`format_millis` for one pattern over numpy values (objects: str or None)."""
    return _format_rows(np.asarray(millis, dtype=np.int64), zones, pattern, kind)


def _format_rows(values: np.ndarray, zones: Optional[np.ndarray], pattern: str, kind: str) -> np.ndarray:
    try:
        tokens = compile_pattern(pattern)
        available = _AVAILABLE[kind]
        if not letters_of(tokens, required_only=True) <= available:
            raise _Unprintable(pattern)
        batch = _Batch(values, zones, kind)
        pieces = _render(tokens, batch, available)
    except (PatternError, _Unprintable, ValueError):
        return np.full(len(values), None, dtype=object)
    if not pieces:
        text = pa.array([""] * len(values), pa.string())
    elif len(pieces) == 1:
        text = pieces[0] if isinstance(pieces[0], pa.Array) else pa.array([pieces[0]] * len(values), pa.string())
    else:
        text = pc.binary_join_element_wise(*pieces, "")
        if not isinstance(text, pa.Array):
            text = pa.array([text.as_py()] * len(values), pa.string())
    result = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    result[batch.too_wide] = None
    return result


def _render(tokens, batch: _Batch, available: frozenset) -> list:
    pieces: list = []
    for token in tokens:
        if isinstance(token, Literal):
            pieces.append(token.text)
        elif isinstance(token, Optional_):
            if letters_of(token.tokens) <= available:
                pieces.extend(_render(token.tokens, batch, available))
        else:
            text = _field(token, batch)
            if token.pad:
                text = pc.utf8_lpad(text, token.pad, " ")
            pieces.append(text)
    return pieces


def _combined(values):
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


# ---- fields ------------------------------------------------------------------------------------

def _field(token: Field, batch: _Batch) -> pa.Array:
    letter, count, f = token.letter, token.count, batch.fields
    if letter in "yuY":
        year = f.year if letter != "Y" else f.week_based()[0]
        if letter == "y" or letter == "Y":
            year = np.where(year <= 0, 1 - year, year)       # year of era
        if count == 2:
            return _digits(year % 100, 2)
        return _number(year, count, exceeds_pad=count >= 4)
    if letter in "ML":
        return _month(f.month, count)
    if letter in "Qq":
        quarter = (f.month - 1) // 3 + 1
        if count <= 2:
            return _digits(quarter, count)
        names = ["Q1", "Q2", "Q3", "Q4"] if count == 3 else QUARTER_NAMES if count == 4 else ["1", "2", "3", "4"]
        return _names(quarter - 1, names)
    if letter == "E":
        return _day_name(f.day_of_week, count)
    if letter in "ec":
        if count <= 2:
            return _digits(f.sunday_based_day(), count)
        return _day_name(f.day_of_week, count)
    if letter == "G":
        era = (f.year > 0).astype(np.int64)
        names = {4: ["Before Christ", "Anno Domini"], 5: ["B", "A"]}.get(count, ["BC", "AD"])
        return _names(era, names)
    if letter == "a":
        return _names((f.hour >= 12).astype(np.int64), ["AM", "PM"])
    if letter in ZONE_LETTERS:
        return _zone(token, batch)
    if letter == "S":
        return _digits(f.nano // 10 ** (9 - count), count)
    value = _numeric_value(letter, batch)
    if letter == "D" and count == 2:
        return _number(value, 2)
    if count == 1:
        return _number(value, 1)
    batch.too_wide |= value >= 10 ** min(count, 18)
    return _digits(value, count)


def _numeric_value(letter: str, batch: _Batch) -> np.ndarray:
    f = batch.fields
    values = {
        "d": lambda: f.day, "D": lambda: f.day_of_year, "H": lambda: f.hour, "m": lambda: f.minute,
        "s": lambda: f.second, "k": lambda: np.where(f.hour == 0, 24, f.hour), "K": lambda: f.hour % 12,
        "h": lambda: np.where(f.hour % 12 == 0, 12, f.hour % 12), "n": lambda: f.nano,
        "N": lambda: f.milli_of_day * 1_000_000, "A": lambda: f.milli_of_day,
        "g": lambda: f.epoch_day + 40587, "F": lambda: (f.day - 1) % 7 + 1,
        "W": lambda: f.week_of_month(), "w": lambda: f.week_based()[1],
    }
    return values[letter]()


def _number(values: np.ndarray, min_width: int, exceeds_pad: bool = False) -> pa.Array:
    """A value at least `min_width` digits wide, '-' when negative; with `exceeds_pad`, '+' when
    it has more digits than the width (SignStyle.EXCEEDS_PAD)."""
    text = _digits(np.abs(values), min_width)
    sign = np.where(values < 0, "-", "")
    if exceeds_pad:
        sign = np.where((values >= 0) & (values >= 10 ** min(min_width, 18)), "+", sign)
    if not np.any(sign != ""):
        return text
    return pc.binary_join_element_wise(pa.array(sign.astype(object), pa.string()), text, "")


def _digits(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string()), width, "0")


def _names(index: np.ndarray, names: list[str]) -> pa.Array:
    return pa.array(names, pa.string()).take(pa.array(np.asarray(index, dtype=np.int64)))


def _month(month: np.ndarray, count: int) -> pa.Array:
    if count <= 2:
        return _number(month, 1) if count == 1 else _digits(month, 2)
    names = {3: [m[:3] for m in MONTHS], 4: MONTHS, 5: [m[0] for m in MONTHS]}[count]
    return _names(month - 1, names)


def _day_name(day_of_week: np.ndarray, count: int) -> pa.Array:
    names = DAYS if count == 4 else [d[0] for d in DAYS] if count == 5 else [d[:3] for d in DAYS]
    return _names(day_of_week - 1, names)


# ---- zones and offsets -------------------------------------------------------------------------

def _zone(token: Field, batch: _Batch) -> pa.Array:
    letter, count = token.letter, token.count
    if letter == "V":
        return _per_distinct(batch.zones if batch.zones is not None else np.full(len(batch.offsets), "UTC", object),
                             zone_id_text)
    if letter in "zv":
        zones = batch.zones if batch.zones is not None else np.full(len(batch.offsets), "UTC", object)
        return pa.array(zone_names(batch.utc_millis, zones, full=count == 4), pa.string())
    if letter == "O":
        return _per_distinct(batch.offsets, lambda s: _localized_offset(s, full=count == 4))
    if letter == "Z" and count == 4:
        return _per_distinct(batch.offsets, lambda s: _localized_offset(s, full=True))
    style, zero = _OFFSET_STYLES[(letter, count)]
    return _per_distinct(batch.offsets, lambda s: zero if s == 0 else offset_text(s, style))


# appendOffset's patterns: upper case parts always print, lower case ones only when not zero.
_OFFSET_STYLES = {
    ("X", 1): ("+HHmm", "Z"), ("X", 2): ("+HHMM", "Z"), ("X", 3): ("+HH:MM", "Z"),
    ("X", 4): ("+HHMMss", "Z"), ("X", 5): ("+HH:MM:ss", "Z"),
    ("x", 1): ("+HHmm", "+00"), ("x", 2): ("+HHMM", "+0000"), ("x", 3): ("+HH:MM", "+00:00"),
    ("x", 4): ("+HHMMss", "+0000"), ("x", 5): ("+HH:MM:ss", "+00:00"),
    ("Z", 1): ("+HHMM", "+0000"), ("Z", 2): ("+HHMM", "+0000"), ("Z", 3): ("+HHMM", "+0000"),
    ("Z", 5): ("+HH:MM:ss", "Z"),
}


def offset_text(total_seconds: int, style: str) -> str:
    """An offset printed as DateTimeFormatterBuilder.appendOffset prints it in `style`."""
    sign = "-" if total_seconds < 0 else "+"
    total = abs(int(total_seconds))
    hours, minutes, seconds = total // 3600, total // 60 % 60, total % 60
    colon = ":" if ":" in style else ""
    text = f"{sign}{hours:02d}"
    if "MM" in style or ("mm" in style and (minutes or seconds)):
        text += f"{colon}{minutes:02d}"
    if "SS" in style or ("ss" in style and seconds):
        text += f"{colon}{seconds:02d}"
    return text


def _localized_offset(total_seconds: int, full: bool) -> str:
    """appendLocalizedOffset: `GMT`, `GMT+8`, `GMT+5:30` (short) or `GMT+08:00` (full)."""
    if total_seconds == 0:
        return "GMT"
    sign = "-" if total_seconds < 0 else "+"
    total = abs(int(total_seconds))
    hours, minutes, seconds = total // 3600, total // 60 % 60, total % 60
    if full:
        return f"GMT{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
    text = f"GMT{sign}{hours}"
    if minutes or seconds:
        text += f":{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
    return text


def _per_distinct(values: np.ndarray, render) -> pa.Array:
    """`render` once per distinct value of the batch, spread to its rows."""
    distinct, inverse = np.unique(np.asarray(values), return_inverse=True)
    texts = pa.array([render(v.item() if hasattr(v, "item") else v) for v in distinct], pa.string())
    return texts.take(pa.array(inverse.astype(np.int64)))
