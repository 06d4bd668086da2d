"""ksqlDB's date and time functions: FORMAT_*/PARSE_* with Java DateTimeFormatter patterns,
the deprecated epoch-based variants, time zones, and the *ADD/*SUB arithmetic.

Patterns are java.time's, read by `java_time` and applied by its vectorized kernels
(`java_time_format`, `java_time_parse`), whether the pattern is a literal or a column.
TIMESTAMPs are UTC instants without a zone; a zone argument shifts them with DuckDB's ICU
(`timezone(...)`), and `+HHMM` offsets shift by minutes.
"""
from __future__ import annotations

from pyksqlite.common.duck import quote_string
from pyksqlite.expressions.builtins_common import literal_string
from pyksqlite.grammar.ast import BIGINT, DATE, INTEGER, STRING, TIME, TIMESTAMP

CATEGORY = dict(category="DATE / TIME")


# ---- time zones ----------------------------------------------------------------------------

def _offset_minutes(zone: str) -> str:
    """Minutes east of UTC for '+HHMM'/'+HH:MM'/'+HH' zones, NULL for named zones."""
    digits = f"replace({zone}, ':', '')"
    return (f"CASE WHEN regexp_full_match({zone}, '[+-]\\d{{2}}(:?\\d{{2}})?') THEN "
            f"(CASE WHEN starts_with({zone}, '-') THEN -1 ELSE 1 END) * "
            f"(CAST(substr({digits}, 2, 2) AS INTEGER) * 60 + "
            f"coalesce(TRY_CAST(nullif(substr({digits}, 4, 2), '') AS INTEGER), 0)) END")


def local_from_utc(ts: str, zone: str) -> str:
    """The wall-clock TIMESTAMP in `zone` of the UTC instant `ts`."""
    offset = _offset_minutes(zone)
    return (f"CASE WHEN {offset} IS NOT NULL THEN {ts} + to_minutes({offset}) "
            f"ELSE CAST(timezone({zone}, timezone('UTC', {ts})) AS TIMESTAMP) END")


def utc_from_local(ts: str, zone: str) -> str:
    """The UTC instant of the wall-clock TIMESTAMP `ts` in `zone`."""
    offset = _offset_minutes(zone)
    return (f"CASE WHEN {offset} IS NOT NULL THEN {ts} - to_minutes({offset}) "
            f"ELSE CAST(timezone('UTC', timezone({zone}, {ts})) AS TIMESTAMP) END")


def _ms(sql: str) -> str:
    return f"CAST({sql} AS TIMESTAMP_MS)"


# ---- FORMAT_* / PARSE_* ----------------------------------------------------------------------
# One vectorized kernel per kind of value formats or parses with the patterns of `java_time`,
# literal or per row; SQL only converts the values to and from epoch milliseconds.

def _kernel(name: str, fn, params, returns) -> str:
    from pyksqlite.expressions.python_udf_duck import register_kernel
    return register_kernel(name, fn, params, returns)


def _formatter(kind: str, zone_default: str | None):
    """SQL rendering a call that formats epoch milliseconds (given as SQL) of a `kind` value."""
    def render(millis_sql: str, args) -> str:
        from pyksqlite.common.java_time.format import format_millis
        if kind == "timestamp":
            name = _kernel("__ksql_format_instant", lambda ms, pattern, zone: format_millis(ms, pattern, zone, kind),
                           [BIGINT, STRING, STRING], STRING)
        else:
            name = _kernel(f"__ksql_format_{kind}", lambda ms, pattern: format_millis(ms, pattern, None, kind),
                           [BIGINT, STRING], STRING)
        if kind != "timestamp":
            return f"{name}({millis_sql}, {args[1]})"
        zone = args[2] if len(args) >= 3 else quote_string(zone_default)
        return f"{name}({millis_sql}, {args[1]}, {zone})"
    return render


def _parsed_millis(args) -> str:
    """SQL for the epoch milliseconds of args[0] parsed with the pattern args[1] (in zone args[2])."""
    from pyksqlite.common.java_time.parse import parse_millis
    if len(args) >= 3:
        name = _kernel("__ksql_parse_in_zone", parse_millis, [STRING, STRING, STRING], BIGINT)
        return f"{name}({args[0]}, {args[1]}, {args[2]})"
    name = _kernel("__ksql_parse_utc", lambda texts, patterns: parse_millis(texts, patterns),
                   [STRING, STRING], BIGINT)
    return f"{name}({args[0]}, {args[1]})"


def _epoch_ms(sql: str) -> str:
    return f"epoch_ms(CAST({sql} AS TIMESTAMP))"


_FORMAT_TIMESTAMP = _formatter("timestamp", "GMT")     # ksqlDB's FORMAT_TIMESTAMP: GMT by default
_TIMESTAMP_TO_STRING = _formatter("timestamp", "UTC")  # the server's zone (UTC)
_FORMAT_DATE = _formatter("date", None)
_FORMAT_TIME = _formatter("time", None)


def _register_formats(registry) -> None:
    reg = registry.register
    for name in ("TIMESTAMPTOSTRING", "STRINGTOTIMESTAMP"):
        registry.clear_variants(name)
    format_ts = lambda a, t: _FORMAT_TIMESTAMP(_epoch_ms(a[0]), a)       # noqa: E731
    epoch_to_string = lambda a, t: _TIMESTAMP_TO_STRING(a[0], a)         # noqa: E731
    parse_ts = lambda a, t: _ms(f"epoch_ms({_parsed_millis(a)})")        # noqa: E731
    reg("FORMAT_TIMESTAMP", (TIMESTAMP, STRING), STRING, format_ts,
        description="Format a TIMESTAMP with a Java pattern, optionally in a time zone.", **CATEGORY)
    reg("FORMAT_TIMESTAMP", (TIMESTAMP, STRING, STRING), STRING, format_ts, **CATEGORY)
    reg("PARSE_TIMESTAMP", (STRING, STRING), TIMESTAMP, parse_ts,
        description="Parse a TIMESTAMP with a Java pattern, optionally in a time zone.", **CATEGORY)
    reg("PARSE_TIMESTAMP", (STRING, STRING, STRING), TIMESTAMP, parse_ts, **CATEGORY)
    reg("TIMESTAMPTOSTRING", (BIGINT, STRING), STRING, epoch_to_string,
        description="Format epoch milliseconds with a Java pattern (deprecated).", **CATEGORY)
    reg("TIMESTAMPTOSTRING", (BIGINT, STRING, STRING), STRING, epoch_to_string, **CATEGORY)
    reg("STRINGTOTIMESTAMP", (STRING, STRING), BIGINT, lambda a, t: _parsed_millis(a),
        description="Parse epoch milliseconds with a Java pattern (deprecated).", **CATEGORY)
    reg("STRINGTOTIMESTAMP", (STRING, STRING, STRING), BIGINT, lambda a, t: _parsed_millis(a), **CATEGORY)
    reg("FORMAT_DATE", (DATE, STRING), STRING,
        lambda a, t: _FORMAT_DATE(f"(({a[0]}) - DATE '1970-01-01') * 86400000::BIGINT", a),
        description="Format a DATE with a Java pattern.", **CATEGORY)
    reg("PARSE_DATE", (STRING, STRING), DATE,
        lambda a, t: f"CAST(epoch_ms({_parsed_millis(a)}) AS DATE)",
        description="Parse a DATE with a Java pattern.", **CATEGORY)
    reg("DATETOSTRING", (INTEGER, STRING), STRING,
        lambda a, t: _FORMAT_DATE(f"CAST({a[0]} AS BIGINT) * 86400000", a),
        description="Format days since the epoch with a Java pattern (deprecated).", **CATEGORY)
    reg("STRINGTODATE", (STRING, STRING), INTEGER,
        lambda a, t: f"CAST(CAST(epoch_ms({_parsed_millis(a)}) AS DATE) - DATE '1970-01-01' AS INTEGER)",
        description="Parse days since the epoch with a Java pattern (deprecated).", **CATEGORY)
    reg("FORMAT_TIME", (TIME, STRING), STRING,
        lambda a, t: _FORMAT_TIME(f"epoch_ms(DATE '1970-01-01' + {a[0]})", a),
        description="Format a TIME with a Java pattern.", **CATEGORY)
    reg("PARSE_TIME", (STRING, STRING), TIME,
        lambda a, t: f"CAST(epoch_ms({_parsed_millis(a)}) AS TIME)",
        description="Parse a TIME with a Java pattern.", **CATEGORY)
    reg("CONVERT_TZ", (TIMESTAMP, STRING, STRING), TIMESTAMP,
        lambda a, t: _ms(local_from_utc(utc_from_local(f"CAST({a[0]} AS TIMESTAMP)", a[1]), a[2])),
        description="Convert a TIMESTAMP from one time zone to another.", **CATEGORY)


# ---- arithmetic ------------------------------------------------------------------------------

_UNIT_MILLIS = {"MILLISECOND": 1, "SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000,
                "DAY": 86_400_000}


def _millis_of(unit_sql: str, amount: str) -> str:
    unit = literal_string(unit_sql)
    if unit is not None:
        factor = _UNIT_MILLIS.get(unit.upper().rstrip("S"))
        if factor is None:
            from pyksqlite.common.errors import KsqlStatementException
            raise KsqlStatementException(f"Unsupported time unit: {unit}")
        return f"(CAST({amount} AS BIGINT) * {factor})"
    cases = " ".join(f"WHEN {quote_string(name)} THEN {factor}" for name, factor in _UNIT_MILLIS.items())
    return f"(CAST({amount} AS BIGINT) * (CASE rtrim(upper({unit_sql}), 'S') {cases} END))"


def _shift(sign: str, kind: str):
    def render(args, types):
        millis = f"to_milliseconds({sign}{_millis_of(args[0], args[1])})"
        if kind == "TIMESTAMP":
            return _ms(f"{args[2]} + {millis}")
        if kind == "TIME":
            return f"CAST({args[2]} + {millis} AS TIME)"
        return f"CAST({args[2]} + {millis} AS DATE)"
    return render


def _register_arithmetic(registry) -> None:
    for kind, base, amount in (("DATE", DATE, INTEGER), ("TIME", TIME, INTEGER),
                               ("TIMESTAMP", TIMESTAMP, BIGINT)):
        for name, sign in ((f"{kind}ADD", ""), (f"{kind}SUB", "-")):
            verb = "Add" if sign == "" else "Subtract"
            registry.register(name, (STRING, amount, base), base, _shift(sign, kind),
                              description=f"{verb} a number of time units to a {kind}.",
                              **CATEGORY)


def _register_epochs(registry) -> None:
    reg = registry.register
    reg("FROM_DAYS", (INTEGER,), DATE, "DATE '1970-01-01' + {0}",
        description="The DATE a number of days after the epoch.", **CATEGORY)
    reg("UNIX_DATE", (), INTEGER, "CAST(current_date - DATE '1970-01-01' AS INTEGER)",
        description="Days since the epoch (today, or of a DATE).", **CATEGORY)
    reg("UNIX_DATE", (DATE,), INTEGER, "CAST({0} - DATE '1970-01-01' AS INTEGER)", **CATEGORY)


def register_datetime(registry) -> None:
    _register_formats(registry)
    _register_arithmetic(registry)
    _register_epochs(registry)
