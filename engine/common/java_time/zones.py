"""Time zones as java.time's ZoneId.of reads them, applied to whole arrays.

A zone is `Z`, an offset (`+5`, `+05`, `+05:30`, `-0800`, `+05:30:15`), `UTC`/`GMT`/`UT` with or
without an offset, or a region of the tz database (`America/Los_Angeles`). Offsets of a region
change only at its transitions, so they are looked up once per distinct (zone, hour) of a batch
and only the hours with a transition inside are looked up per row. An unknown zone is a
ValueError (the JDK's ZoneRulesException / DateTimeException).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

_OFFSET = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?")
_PREFIXED = re.compile(r"(UTC|GMT|UT)([+-].*)")
_HOUR_MS = 3_600_000


@lru_cache(maxsize=256)
def zone_info(name: str) -> tuple[str, tzinfo, Optional[int]]:
    """(the JDK's id of the zone, a tzinfo, its fixed offset in seconds or None for a region)."""
    if name == "Z":
        return "Z", timezone.utc, 0
    if name in ("UTC", "GMT", "UT"):
        return name, timezone.utc, 0
    if name[:1] in "+-":
        seconds = _offset_seconds_of(name)
        return _offset_id(seconds), timezone(timedelta(seconds=seconds)), seconds
    prefixed = _PREFIXED.fullmatch(name)
    if prefixed:
        seconds = _offset_seconds_of(prefixed.group(2))
        return prefixed.group(1) + _offset_id(seconds).replace("Z", ""), timezone(timedelta(seconds=seconds)), seconds
    try:
        return name, ZoneInfo(name), None
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"Unknown time-zone ID: {name}") from None


def _offset_seconds_of(text: str) -> int:
    match = _OFFSET.fullmatch(text)
    if not match or (len(match.group(2)) == 1 and match.group(3)):
        raise ValueError(f"Invalid ID for ZoneOffset, invalid format: {text}")
    hours, minutes, seconds = int(match.group(2)), int(match.group(3) or 0), int(match.group(4) or 0)
    if hours > 18 or minutes > 59 or seconds > 59 or (hours == 18 and (minutes or seconds)):
        raise ValueError(f"Zone offset not in valid range: {text}")
    return (-1 if match.group(1) == "-" else 1) * (hours * 3600 + minutes * 60 + seconds)


def _offset_id(seconds: int) -> str:
    if seconds == 0:
        return "Z"
    sign, total = ("-" if seconds < 0 else "+"), abs(seconds)
    text = f"{sign}{total // 3600:02d}:{total // 60 % 60:02d}"
    return text + (f":{total % 60:02d}" if total % 60 else "")


def zone_id_text(name: str) -> str:
    """The zone's id as java.time prints it (`VV`)."""
    return zone_info(name)[0]


def offset_seconds(utc_millis: np.ndarray, zones: np.ndarray) -> np.ndarray:
    """Each instant's offset from UTC in its zone, in seconds."""
    return _offsets(np.asarray(utc_millis, dtype=np.int64), zones, local=False)


def local_offset_seconds(local_millis: np.ndarray, zones: np.ndarray) -> np.ndarray:
    """The offset of each local date-time in its zone, as ZonedDateTime.ofLocal picks it: the
    earlier offset in an overlap, the offset before a gap (the time is then moved forward)."""
    return _offsets(np.asarray(local_millis, dtype=np.int64), zones, local=True)


def _offsets(millis: np.ndarray, zones: np.ndarray, local: bool) -> np.ndarray:
    out = np.zeros(len(millis), dtype=np.int64)
    zones = np.asarray(zones, dtype=object)
    for name in set(zones.tolist()):
        rows = np.flatnonzero(zones == name)
        _, info, fixed = zone_info(name)
        out[rows] = fixed if fixed is not None else _region_offsets(millis[rows], info, local)
    return out


def _region_offsets(millis: np.ndarray, info: tzinfo, local: bool) -> np.ndarray:
    hours = np.floor_divide(millis, _HOUR_MS)
    distinct, inverse = np.unique(hours, return_inverse=True)
    start = np.array([_offset_at(int(h) * _HOUR_MS, info, local) for h in distinct], dtype=np.int64)
    end = np.array([_offset_at(int(h) * _HOUR_MS + _HOUR_MS - 1, info, local) for h in distinct], dtype=np.int64)
    result = start[inverse]
    for row in np.flatnonzero((start != end)[inverse]):   # a transition inside the hour
        result[row] = _offset_at(int(millis[row]), info, local)
    return result


def _offset_at(millis: int, info: tzinfo, local: bool) -> int:
    if local:
        moment = datetime(1970, 1, 1) + timedelta(milliseconds=millis)
        return int(moment.replace(tzinfo=info, fold=0).utcoffset().total_seconds())
    moment = datetime.fromtimestamp(0, tz=timezone.utc) + timedelta(milliseconds=millis)
    return int(moment.astimezone(info).utcoffset().total_seconds())


def zone_names(utc_millis: np.ndarray, zones: np.ndarray, full: bool = False) -> np.ndarray:
    """The zone's name at each instant (`z`: PDT, BST, UTC); java.time's full names (`zzzz`)
    are known for UTC and GMT only, other zones print their short name."""
    utc_millis = np.asarray(utc_millis, dtype=np.int64)
    zones = np.asarray(zones, dtype=object)
    out = np.empty(len(utc_millis), dtype=object)
    for name in set(zones.tolist()):
        rows = np.flatnonzero(zones == name)
        zone_id, info, fixed = zone_info(name)
        if fixed is not None:
            out[rows] = _fixed_zone_name(zone_id, full)
            continue
        hours = np.floor_divide(utc_millis[rows], _HOUR_MS)
        distinct, inverse = np.unique(hours, return_inverse=True)
        names = np.array([_region_name(int(h) * _HOUR_MS, info) for h in distinct], dtype=object)
        out[rows] = names[inverse]
    return out


def _fixed_zone_name(zone_id: str, full: bool) -> str:
    if full:
        return {"UTC": "Coordinated Universal Time", "GMT": "Greenwich Mean Time",
                "Z": "Z", "UT": "Universal Time"}.get(zone_id, zone_id)
    return zone_id


def _region_name(millis: int, info: tzinfo) -> str:
    moment = datetime.fromtimestamp(0, tz=timezone.utc) + timedelta(milliseconds=millis)
    return moment.astimezone(info).tzname()
