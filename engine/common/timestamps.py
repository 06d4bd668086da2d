"""Event-time helpers: a column to epoch milliseconds, and Java DateTimeFormatter patterns.

ksqlDB's `TIMESTAMP` property names a BIGINT (epoch ms), TIMESTAMP, or a STRING column parsed
with `TIMESTAMP_FORMAT`, a java.time pattern. Strings are parsed in DuckDB (strptime), whole
arrays at a time, after translating the pattern.
"""
from __future__ import annotations

from typing import Optional

import pyarrow as pa

from pyksqlite.common.duck import quote_string, run_sql
from pyksqlite.common.types import SqlType

# Java pattern letters (longest first) -> strftime/strptime directives understood by DuckDB.
JAVA_PATTERN_TOKENS = [("yyyy", "%Y"), ("uuuu", "%Y"), ("yy", "%y"), ("MMMM", "%B"), ("MMM", "%b"),
                ("MM", "%m"), ("M", "%-m"), ("dd", "%d"), ("d", "%-d"), ("HH", "%H"), ("H", "%-H"),
                ("hh", "%I"), ("h", "%-I"), ("mm", "%M"), ("m", "%-M"), ("ss", "%S"), ("s", "%-S"),
                ("SSSSSS", "%f"), ("SSS", "%g"), ("S", "%g"), ("EEEE", "%A"), ("EEE", "%a"),
                ("a", "%p"), ("DDD", "%j"), ("D", "%j"), ("XXX", "%z"), ("XX", "%z"), ("X", "%z"),
                ("ZZZ", "%z"), ("Z", "%z"), ("zzz", "%Z"), ("z", "%Z")]


def java_to_strftime(pattern: str) -> str:
    """A java.time pattern (`yyyy-MM-dd'T'HH:mm:ssX`) as a strftime/strptime format
    ('' inside quotes is a quote)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "'":
            text, i = _quoted_text(pattern, i)
            out.append(text.replace("%", "%%"))
            continue
        token = next(((j, code) for j, code in JAVA_PATTERN_TOKENS if pattern.startswith(j, i)), None)
        out.append(token[1] if token else ("%%" if pattern[i] == "%" else pattern[i]))
        i += len(token[0]) if token else 1
    return "".join(out)


def _quoted_text(pattern: str, start: int) -> tuple[str, int]:
    """The literal text of the quoted section at `start` and the index after it: `''` is a
    quote, inside a section or outside one."""
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
    return "".join(text), i


def to_epoch_millis(values: pa.Array | pa.ChunkedArray, typ: SqlType, fmt: Optional[str]) -> pa.Array:
    """Epoch milliseconds (int64) of a BIGINT, TIMESTAMP or formatted STRING column; nulls where
    a value is null or cannot be parsed."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if typ.base == "BIGINT" or typ.base == "INTEGER":
        return values.cast(pa.int64())
    if typ.base == "TIMESTAMP":
        return values.cast(pa.timestamp("ms")).cast(pa.int64())
    if typ.base == "STRING":
        if not fmt:
            fmt = "yyyy-MM-dd'T'HH:mm:ss.SSS"
        strptime = java_to_strftime(fmt)
        has_zone = "%z" in strptime or "%Z" in strptime
        tbl = pa.table({"s": values})
        text = "regexp_replace(s, 'Z$', '+0000')" if has_zone else "s"
        cast = "" if has_zone else "::TIMESTAMP"
        sql = f"SELECT epoch_ms(try_strptime({text}, {quote_string(strptime)}){cast}) AS ms FROM tbl"
        result = run_sql(sql, tbl=tbl)
        return result.column("ms").combine_chunks().cast(pa.int64())
    raise ValueError(f"timestamp column must be BIGINT, TIMESTAMP or STRING, not {typ}")
