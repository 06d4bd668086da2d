"""Parsing with java.time patterns, a whole Arrow array at a time.

Each distinct pattern of a batch becomes one anchored, case-insensitive regular expression (a
group per field, with the JDK's widths: `yyyy` four digits or a sign and more, `yy` two digits
based on 2000, `d` one or more digits, `MMM` a short month name...; optional sections are
optional groups), applied to all rows with that pattern by one Arrow `extract_regex`; the
fields are assembled into epoch milliseconds with numpy. It follows ksqlDB's parsers: missing
fields default to 1970-01-01T00:00:00, text is matched case-insensitively, the day of month is
clamped to the month's length as the JDK's SMART resolver does, a parsed offset or zone wins,
else the wall clock is read in the zone given (UTC by default). A row that does not match, or
whose fields are out of range or conflict, is NULL (ksqlDB fails the call, which nulls it).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.java_time.patterns import Field, Literal, Optional_, PatternError, compile_pattern
from pyksqlite.common.java_time.fields import DAYS, MONTHS, QUARTER_NAMES, days_from_civil, month_length
from pyksqlite.common.java_time.zones import local_offset_seconds, zone_info

_ZONE_ABBREVIATIONS = {"PST": "America/Los_Angeles", "PDT": "America/Los_Angeles",
                       "MST": "America/Denver", "MDT": "America/Denver", "CST": "America/Chicago",
                       "CDT": "America/Chicago", "EST": "America/New_York", "EDT": "America/New_York",
                       "BST": "Europe/London", "CET": "Europe/Paris", "CEST": "Europe/Paris",
                       "IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "AEST": "Australia/Sydney",
                       "AEDT": "Australia/Sydney", "HST": "Pacific/Honolulu"}
_OFFSET_RE = r"[+-]\d{1,2}(?::?\d{2})?(?::?\d{2})?"


@lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Optional[tuple[str, tuple[tuple[str, Field], ...]]]:
    """(the anchored regex, ((group, field)...)) of a pattern, or None if the JDK rejects it."""
    try:
        tokens = compile_pattern(pattern)
    except PatternError:
        return None
    groups: list[tuple[str, Field]] = []
    return "(?i)^" + _regex(tokens, groups) + "$", tuple(groups)


def _regex(tokens, groups: list) -> str:
    out = []
    for token in tokens:
        if isinstance(token, Literal):
            out.append(re.escape(token.text))
        elif isinstance(token, Optional_):
            out.append(f"(?:{_regex(token.tokens, groups)})?")
        else:
            name = f"g{len(groups)}"
            groups.append((name, token))
            pad = r" *" if token.pad else ""
            out.append(f"{pad}(?P<{name}>{_field_regex(token.letter, token.count)})")
    return "".join(out)


def _field_regex(letter: str, count: int) -> str:
    if letter in "yuY":
        if count == 2:
            return r"\d{2}"
        return rf"-?\d{{{count},18}}" if count < 4 else rf"\d{{{count}}}|[+-]\d{{{count + 1},18}}"
    if letter in "ML" and count >= 3:
        names = [m[:3] for m in MONTHS] if count == 3 else MONTHS if count == 4 else [m[0] for m in MONTHS]
        return "|".join(sorted(set(names), key=len, reverse=True))
    if letter in "Ec" or (letter == "e" and count >= 3):
        names = DAYS if count == 4 else [d[0] for d in DAYS] if count == 5 else [d[:3] for d in DAYS]
        return "|".join(sorted(set(names), key=len, reverse=True))
    if letter in "Qq" and count >= 3:
        return r"Q[1-4]" if count == 3 else "|".join(QUARTER_NAMES) if count == 4 else r"[1-4]"
    if letter == "a":
        return r"AM|PM"
    if letter == "G":
        return {4: "Anno Domini|Before Christ", 5: "A|B"}.get(count, "AD|BC")
    if letter in "XxZ" or letter == "O":
        gmt = r"GMT(?:[+-]\d{1,2}(?::\d{2})?(?::\d{2})?)?"
        if letter == "O" or (letter == "Z" and count == 4):
            return gmt
        return ("Z|" if letter in "XZ" else "") + _OFFSET_RE
    if letter in "Vz":
        return r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*|" + _OFFSET_RE
    if letter == "S":
        return rf"\d{{{count}}}"
    if letter == "D":
        return {1: r"\d{1,3}", 2: r"\d{2,3}"}.get(count, r"\d{3}")
    if count == 1:
        return r"\d{1,18}"
    return rf"\d{{{count}}}"


def parse_millis(texts: pa.Array, patterns: pa.Array, zones: Optional[pa.Array] = None) -> pa.Array:
    """Epoch milliseconds (int64) of texts parsed with per-row patterns; a wall clock without a
    zone or offset in the text is read in `zones` (per row), or as UTC."""
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    patterns = patterns.combine_chunks() if isinstance(patterns, pa.ChunkedArray) else patterns
    texts, patterns = texts.cast(pa.string()), patterns.cast(pa.string())
    zone_names = None
    if zones is not None:
        zones = zones.combine_chunks() if isinstance(zones, pa.ChunkedArray) else zones
        zone_names = np.asarray(pc.fill_null(zones.cast(pa.string()), "UTC").to_numpy(zero_copy_only=False), dtype=object)
    values = np.zeros(len(texts), dtype=np.int64)
    valid = np.zeros(len(texts), dtype=bool)
    distinct = pc.unique(patterns).to_pylist()
    for pattern in distinct:
        compiled = None if pattern is None else compile_regex(pattern)
        if compiled is None:
            continue
        if len(distinct) == 1:   # a literal pattern: every row
            rows = np.arange(len(texts))
        else:
            rows = np.flatnonzero(np.asarray(pc.fill_null(pc.equal(patterns, pattern), False)
                                             .to_numpy(zero_copy_only=False), dtype=bool))
        matched = pc.extract_regex(texts.take(pa.array(rows)), compiled[0])
        millis, ok = _assemble(matched, compiled[1], zone_names[rows] if zone_names is not None else None)
        values[rows] = millis
        valid[rows] = ok
    return pa.array(values, pa.int64(), mask=~valid)


def parse_with_pattern(texts: pa.Array, pattern: str) -> pa.Array:
    """`parse_millis` with one pattern for every row (a source's TIMESTAMP_FORMAT)."""
    return parse_millis(texts, pa.array([pattern] * len(texts), pa.string()))


class _Parsed:
    """The fields read from a batch, with their defaults (1970-01-01T00:00:00)."""

    def __init__(self, size: int):
        ones = np.ones(size, np.int64)
        self.year, self.month, self.day = np.full(size, 1970, np.int64), ones.copy(), ones.copy()
        self.hour, self.minute, self.second, self.nano = (np.zeros(size, np.int64) for _ in range(4))
        self.day_of_year = self.day_of_week = self.half = self.era = None
        self.hour_of_half = None
        self.milli_of_day = self.epoch_day = None
        self.offset: Optional[np.ndarray] = None   # seconds; NaN-free, with `has_offset`
        self.has_offset = np.zeros(size, dtype=bool)
        self.zone: Optional[np.ndarray] = None     # zone ids parsed from the text


def _assemble(matched: pa.StructArray, groups, zones: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    size = len(matched)
    ok = ~np.asarray(matched.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    p = _Parsed(size)
    for name, field in groups:
        text = pc.fill_null(matched.field(name), "")
        present = np.asarray(pc.not_equal(text, "").to_numpy(zero_copy_only=False), dtype=bool)
        ok &= _read_field(p, field, text, present)
    return _to_millis(p, ok, zones)


def _read_field(p: _Parsed, field: Field, text: pa.Array, present: np.ndarray) -> np.ndarray:
    """Store one field's values where present; False for rows whose value is out of range."""
    letter, count = field.letter, field.count
    lowered = pc.utf8_lower(text)
    if letter in "ML" and count >= 3:
        names = [m[:3] for m in MONTHS] if count == 3 else MONTHS if count == 4 else [m[0] for m in MONTHS]
        p.month = np.where(present, _index_of(lowered, names) + 1, p.month)
        return np.ones(len(present), dtype=bool)
    if letter == "E" or (letter in "ec" and count >= 3):
        names = DAYS if count == 4 else [d[0] for d in DAYS] if count == 5 else [d[:3] for d in DAYS]
        p.day_of_week = np.where(present, _index_of(lowered, names) + 1, 0)
        return np.ones(len(present), dtype=bool)
    if letter == "a":
        p.half = np.where(present, np.asarray(pc.equal(lowered, "pm").to_numpy(zero_copy_only=False), dtype=bool), False)
        return np.ones(len(present), dtype=bool)
    if letter == "G":
        p.era = np.where(present, np.asarray(pc.starts_with(lowered, "b").to_numpy(zero_copy_only=False), dtype=bool), False)
        return np.ones(len(present), dtype=bool)
    if letter in "XxZO":
        return _read_offset(p, lowered, present)
    if letter in "Vz":
        return _read_zone(p, text, present)
    if letter in "Qq":
        return np.ones(len(present), dtype=bool)   # the quarter is implied by the month
    number = _integers(text)
    return _store_number(p, letter, count, number, present)


def _store_number(p: _Parsed, letter: str, count: int, number: np.ndarray, present: np.ndarray) -> np.ndarray:
    ok = np.ones(len(present), dtype=bool)
    keep = lambda old: np.where(present, number, old)   # noqa: E731
    if letter in "yu":
        p.year = np.where(present, 2000 + number if count == 2 else number, p.year)
    elif letter in "ML":
        p.month = keep(p.month)
        ok = ~present | ((number >= 1) & (number <= 12))
    elif letter == "d":
        p.day = keep(p.day)
        ok = ~present | ((number >= 1) & (number <= 31))
    elif letter == "D":
        p.day_of_year = np.where(present, number, 0)
        ok = ~present | ((number >= 1) & (number <= 366))
    elif letter in "Hk":
        p.hour = keep(p.hour) % 24 if letter == "k" else keep(p.hour)
        ok = ~present | ((number <= 24) & (number >= 1) if letter == "k" else number <= 23)
    elif letter in "hK":
        p.hour_of_half = np.where(present, number % 12, 0)
        ok = ~present | (((number >= 1) & (number <= 12)) if letter == "h" else number <= 11)
    elif letter == "m":
        p.minute = keep(p.minute)
        ok = ~present | (number <= 59)
    elif letter == "s":
        p.second = keep(p.second)
        ok = ~present | (number <= 59)
    elif letter == "S":
        p.nano = np.where(present, number * 10 ** (9 - count), p.nano)
    elif letter == "n":
        p.nano = keep(p.nano)
        ok = ~present | (number < 1_000_000_000)
    elif letter == "A":
        p.milli_of_day = np.where(present, number, 0)
        ok = ~present | (number < 86_400_000)
    elif letter == "N":
        p.milli_of_day = np.where(present, number // 1_000_000, 0)
        ok = ~present | (number < 86_400_000_000_000)
    elif letter == "g":
        p.epoch_day = np.where(present, number - 40587, 0)
    return ok   # Y, w, W, e, c, F: read, not resolved (ksqlDB's defaults fill the date)


def _read_offset(p: _Parsed, lowered: pa.Array, present: np.ndarray) -> np.ndarray:
    values = lowered.to_pylist()
    seconds = np.zeros(len(values), np.int64)
    ok = np.ones(len(values), dtype=bool)
    for text in set(values):
        if not text:
            continue
        rows = [i for i, v in enumerate(values) if v == text]
        try:
            seconds[rows] = _offset_seconds_text(text)
        except ValueError:
            ok[rows] = False
    p.offset = np.where(present, seconds, p.offset if p.offset is not None else 0)
    p.has_offset |= present
    return ok


def _offset_seconds_text(text: str) -> int:
    body = text.upper().removeprefix("GMT")
    if body in ("", "Z"):
        return 0
    _, _, fixed = zone_info(body)
    return int(fixed)


def _read_zone(p: _Parsed, text: pa.Array, present: np.ndarray) -> np.ndarray:
    values = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    zones = np.array([_ZONE_ABBREVIATIONS.get(str(v).upper(), v) for v in values], dtype=object)
    ok = np.ones(len(values), dtype=bool)
    for name in set(zones[present].tolist()):
        try:
            zone_info(name)
        except ValueError:
            ok[(zones == name) & present] = False
    p.zone = np.where(present & ok, zones, p.zone if p.zone is not None else None)
    return ok


def _to_millis(p: _Parsed, ok: np.ndarray, zones: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if p.era is not None:
        p.year = np.where(p.era, 1 - p.year, p.year)
    if p.hour_of_half is not None:
        half = p.half if p.half is not None else np.zeros(len(ok), dtype=bool)
        p.hour = p.hour_of_half + np.where(half, 12, 0)
    ok &= (p.month >= 1) & (p.month <= 12)
    day = np.minimum(p.day, month_length(p.year, p.month))   # the SMART resolver clamps
    days = days_from_civil(p.year, p.month, day)
    if p.day_of_year is not None:
        ok &= p.day_of_year <= 365 + (month_length(p.year, np.full(len(ok), 2)) == 29)
        days = np.where(p.day_of_year > 0, days_from_civil(p.year, np.ones_like(p.year), np.ones_like(p.year))
                        + p.day_of_year - 1, days)
    if p.epoch_day is not None:
        days = np.where(p.epoch_day != 0, p.epoch_day, days)
    if p.day_of_week is not None:   # a day name must agree with the date
        ok &= (p.day_of_week == 0) | (p.day_of_week == (days + 3) % 7 + 1)
    time_millis = p.hour * 3_600_000 + p.minute * 60_000 + p.second * 1000 + p.nano // 1_000_000
    if p.milli_of_day is not None:
        time_millis = np.where(p.milli_of_day != 0, p.milli_of_day, time_millis)
    local = days * 86_400_000 + time_millis
    return _to_utc(local, p, zones), ok


def _to_utc(local: np.ndarray, p: _Parsed, zones: Optional[np.ndarray]) -> np.ndarray:
    """The parsed offset wins, then a parsed zone, then the zone given, else UTC."""
    chosen = np.full(len(local), "UTC", dtype=object) if zones is None else zones.copy()
    if p.zone is not None:
        parsed = np.asarray([z is not None for z in p.zone], dtype=bool)
        chosen[parsed] = p.zone[parsed]
    offsets = local_offset_seconds(local, chosen) if (zones is not None or p.zone is not None) else 0
    offsets = np.where(p.has_offset, p.offset if p.offset is not None else 0, offsets)
    return local - offsets * 1000


def _integers(text: pa.Array) -> np.ndarray:
    digits = pc.if_else(pc.equal(text, ""), "0", pc.replace_substring(text, "+", ""))
    return np.asarray(pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _index_of(lowered: pa.Array, names: list[str]) -> np.ndarray:
    found = pc.index_in(lowered, pa.array([n.lower() for n in names])).to_numpy(zero_copy_only=False)
    return np.nan_to_num(found.astype(float)).astype(np.int64)
