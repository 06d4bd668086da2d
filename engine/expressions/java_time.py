"""A vectorized parser for java.time patterns given per row (PARSE_DATE(text, format_column)).

DuckDB's strptime needs a constant format, so a pattern that comes from a column cannot be
translated into SQL. This kernel groups a batch's rows by distinct pattern, turns each pattern
into an anchored regular expression once (cached), extracts the fields of all rows that use it
with one Arrow `extract_regex`, and assembles epoch milliseconds with numpy. The parse follows
ksqlDB's formatter: case-insensitive (JAN, Pm), missing fields default to 1970-01-01T00:00:00,
`X`/`Z` offsets ('Z' is UTC) shift to UTC. A row that does not match gives NULL (ksqlDB fails
the call, which nulls it).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_FULL_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december"]
_LETTER_RUN = re.compile(r"([A-Za-z])\1*")


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Optional[tuple[str, tuple[tuple[str, str], ...]]]:
    """(anchored regex over the lower-cased text, ((group, java letters)...)), or None when the
    pattern uses letters this parser does not know."""
    out, groups, i = [], [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            end = pattern.find("'", i + 1)
            end = len(pattern) if end < 0 else end
            literal = pattern[i + 1:end] or "'"
            out.append(re.escape(literal.lower()))
            i = end + 1
            continue
        if not ch.isalpha():
            out.append(re.escape(ch))
            i += 1
            continue
        run = _LETTER_RUN.match(pattern, i).group(0)
        i += len(run)
        regex = _field_regex(run)
        if regex is None:
            return None
        name = f"g{len(groups)}"
        groups.append((name, run))
        out.append(f"(?P<{name}>{regex})")
    return "^" + "".join(out) + "$", tuple(groups)


def _field_regex(run: str) -> Optional[str]:
    letter, n = run[0], len(run)
    if letter in "yu":
        return r"\d{2}" if n == 2 else (r"[+-]?\d{4,9}" if n >= 4 else r"[+-]?\d{1,9}")
    if letter in "ML":
        return r"\d{2}" if n == 2 else r"\d{1,2}" if n == 1 else r"[a-z]{3}" if n == 3 else r"[a-z]+"
    if letter in "dHhKkms":
        return r"\d{2}" if n == 2 else r"\d{1,2}"
    if letter == "D":
        return r"\d{1,3}" if n == 1 else rf"\d{{{n}}}"
    if letter in "Sn":
        return rf"\d{{{n}}}"
    if letter == "a":
        return r"am|pm"
    if letter in "E":
        return r"[a-z]+"
    if letter in "XxZ":
        return r"z|[+-]\d{2}(?::?\d{2})?(?::?\d{2})?"
    return None


def parse_epoch_millis(texts: pa.Array, patterns: pa.Array) -> pa.Array:
    """Epoch milliseconds (int64; the wall clock read as UTC unless the text has an offset)."""
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    patterns = patterns.combine_chunks() if isinstance(patterns, pa.ChunkedArray) else patterns
    n = len(texts)
    values = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    lowered = pc.utf8_lower(texts.cast(pa.string()))
    for pattern in pc.unique(patterns.cast(pa.string())).to_pylist():
        if pattern is None:
            continue
        compiled = compile_pattern(pattern)
        if compiled is None:
            continue
        rows = np.flatnonzero(pc.fill_null(pc.equal(patterns, pattern), False).to_numpy(zero_copy_only=False))
        matched = pc.extract_regex(lowered.take(pa.array(rows)), compiled[0])
        millis, ok = _assemble(matched, compiled[1])
        values[rows] = millis
        valid[rows] = ok
    return pa.array(values, pa.int64(), mask=~valid)


def _assemble(matched: pa.StructArray, groups) -> tuple[np.ndarray, np.ndarray]:
    size = len(matched)
    ok = ~np.asarray(matched.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    year, month, day = np.full(size, 1970), np.ones(size, np.int64), np.ones(size, np.int64)
    day_of_year = None
    hour, minute, second, millis = (np.zeros(size, np.int64) for _ in range(4))
    half, offset = None, np.zeros(size, np.int64)
    for name, run in groups:
        text = pc.fill_null(matched.field(name), "")
        letter, width = run[0], len(run)
        if letter in "ML" and width >= 3:
            names = _MONTHS if width == 3 else _FULL_MONTHS
            found = pc.index_in(text, pa.array(names)).to_numpy(zero_copy_only=False)
            ok &= ~np.isnan(found.astype(float))
            month = np.nan_to_num(found.astype(float)).astype(np.int64) + 1
            continue
        if letter == "a":
            half = np.asarray(pc.equal(text, "pm").to_numpy(zero_copy_only=False), dtype=bool)
            continue
        if letter == "E":
            continue
        if letter in "XxZ":
            offset = _offset_minutes(text)
            continue
        number = _integers(text)
        if letter in "yu":
            year = number + 2000 if width == 2 else number
        elif letter in "ML":
            month = number
        elif letter == "d":
            day = number
        elif letter == "D":
            day_of_year = number
        elif letter in "Hk":
            hour = number % 24 if letter == "k" else number
        elif letter in "hK":
            hour = number % 12 if letter == "h" else number
        elif letter == "m":
            minute = number
        elif letter == "s":
            second = number
        elif letter in "Sn":
            millis = number * 10 ** max(0, 3 - width) // 10 ** max(0, width - 3)
    if half is not None:
        hour = hour % 12 + np.where(half, 12, 0)
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= _month_days(year, month))
    ok &= (hour < 24) & (minute < 60) & (second < 60)
    days = _days_from_civil(year, month, day)
    if day_of_year is not None:
        days = _days_from_civil(year, np.ones(size, np.int64), np.ones(size, np.int64)) + day_of_year - 1
    total = days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis
    return total - offset * 60_000, ok


def _integers(text: pa.Array) -> np.ndarray:
    digits = pc.if_else(pc.equal(text, ""), "0", text)
    return np.asarray(pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _offset_minutes(text: pa.Array) -> np.ndarray:
    cleaned = pc.replace_substring(text, ":", "")
    sign = np.where(np.asarray(pc.starts_with(cleaned, "-").to_numpy(zero_copy_only=False), dtype=bool), -1, 1)
    hours = _integers(pc.utf8_slice_codeunits(cleaned, 1, 3))
    minutes = _integers(pc.utf8_slice_codeunits(cleaned, 3, 5))
    return np.where(np.asarray(pc.equal(text, "z").to_numpy(zero_copy_only=False), dtype=bool),
                    0, sign * (hours * 60 + minutes))


def _month_days(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    return lengths[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def zone_abbreviations(instants: pa.Array, zones: pa.Array) -> pa.Array:
    """java.time's `z` (PDT, BST, UTC) of UTC instants in time zones. Evaluated once per distinct
    (zone, hour) pair of the batch, since abbreviations only change at transitions."""
    from datetime import datetime, timezone
    instants = instants.combine_chunks() if isinstance(instants, pa.ChunkedArray) else instants
    zones = zones.combine_chunks() if isinstance(zones, pa.ChunkedArray) else zones
    millis = pc.cast(pc.cast(instants, pa.timestamp("ms")), pa.int64())
    hours = pc.divide(millis, 3_600_000)
    pairs = pc.binary_join_element_wise(pc.cast(hours, pa.string()), zones.cast(pa.string()), "|")
    unique = pc.unique(pairs)
    names = []
    for pair in unique.to_pylist():
        hour, zone = (None, None) if pair is None else (int(pair.split("|", 1)[0]), pair.split("|", 1)[1])
        try:
            moment = datetime.fromtimestamp(hour * 3600, tz=timezone.utc)
            names.append(moment.astimezone(_zone(zone)).tzname() if zone is not None and hour is not None else None)
        except Exception:  # noqa: BLE001 - an unknown zone: the call fails (NULL)
            names.append(None)
    return pc.take(pa.array(names, pa.string()), pc.index_in(pairs, unique))


@lru_cache(maxsize=64)
def _zone(name: str):
    from datetime import timedelta, timezone
    from zoneinfo import ZoneInfo
    if name.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc if name.upper() != "GMT" else ZoneInfo("GMT")
    match = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?", name)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0)))
    return ZoneInfo(name)
