"""ksqlDB's date and time functions: FORMAT_*/PARSE_* with Java DateTimeFormatter patterns,
the deprecated epoch-based variants, time zones, and the *ADD/*SUB arithmetic.

A pattern is translated to a strftime/strptime format in SQL, so a pattern taken from a column
works as well as a literal: the pattern is split at its quotes (odd pieces are literal text) and
each letter run becomes its strftime code through placeholders that contain no pattern letters.
TIMESTAMPs are UTC instants without a zone; a zone argument shifts them with DuckDB's ICU
(`timezone(...)`), and `+HHMM` offsets shift by minutes.
"""
from __future__ import annotations

import re

from pyksqlite.common.duck import quote_string
from pyksqlite.expressions.builtins_common import literal_string
from pyksqlite.expressions.casts import fresh_lambda_param
from pyksqlite.common.timestamps import JAVA_PATTERN_TOKENS, java_to_strftime
from pyksqlite.grammar.ast import BIGINT, DATE, INTEGER, STRING, TIME, TIMESTAMP

CATEGORY = dict(category="DATE / TIME")
# Java pattern runs -> strftime codes, longest first for each letter.


def _placeholder(index: int) -> str:
    return f"\x01{index:02d}\x02"


def _translate_piece(piece: str, value: str | None = None) -> str:
    """SQL turning an unquoted pattern piece into strftime codes, or, given `value`, straight
    into that value's formatted fields (each a strftime with a constant format)."""
    sql = piece if value is not None else f"replace({piece}, '%', '%%')"
    for index, (token, _) in enumerate(JAVA_PATTERN_TOKENS):
        sql = f"replace({sql}, {quote_string(token)}, {quote_string(_placeholder(index))})"
    for index, (_, code) in enumerate(JAVA_PATTERN_TOKENS):
        field = quote_string(code) if value is None else f"strftime({value}, {quote_string(code)})"
        sql = f"replace({sql}, {quote_string(_placeholder(index))}, {field})"
    return sql


def formatted_sql(value: str, pattern_sql: str) -> str:
    """`value` (DATE or TIMESTAMP) formatted with a Java pattern. DuckDB's strftime needs a
    constant format, so a pattern from a column is expanded field by field instead."""
    if literal_string(pattern_sql) is not None:
        return f"strftime({value}, {strftime_format_sql(pattern_sql)})"
    index = fresh_lambda_param()
    pieces = f"string_split({pattern_sql}, '''')"
    rendered = (f"list_transform(range(1, len({pieces}) + 1), lambda {index}: "
                f"CASE WHEN {index} % 2 = 1 THEN {_translate_piece(f'{pieces}[{index}]', value)} "
                f"ELSE {pieces}[{index}] END)")
    return f"CASE WHEN {value} IS NOT NULL THEN array_to_string({rendered}, '') END"


def strftime_format_sql(pattern_sql: str) -> str:
    """SQL for the strftime format of a Java pattern (a literal is translated once)."""
    text = literal_string(pattern_sql)
    if text is not None:
        return quote_string(java_to_strftime(text))
    index = fresh_lambda_param()
    pieces = f"string_split({pattern_sql}, '''')"
    translated = (f"list_transform(range(1, len({pieces}) + 1), lambda {index}: "
                  f"CASE WHEN {index} % 2 = 1 THEN {_translate_piece(f'{pieces}[{index}]')} "
                  f"ELSE replace({pieces}[{index}], '%', '%%') END)")
    return f"array_to_string({translated}, '')"


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

_OFFSET_TOKEN = re.compile(r"'[^']*'?|(Z{1,3}|X{1,3}|x{1,3})")


def _offset_sql(minutes: str, token: str) -> str:
    """The zone offset `minutes` east of UTC as java.time prints it for `token`:
    Z +HHMM; x +HH[MM], xx +HHMM, xxx +HH:MM; X, XX, XXX the same but 'Z' for UTC."""
    sign = f"(CASE WHEN {minutes} < 0 THEN '-' ELSE '+' END)"
    hours = f"lpad(CAST(abs({minutes}) // 60 AS VARCHAR), 2, '0')"
    mins = f"lpad(CAST(abs({minutes}) % 60 AS VARCHAR), 2, '0')"
    if token[0] == "Z" or len(token) == 2:
        text = f"{sign} || {hours} || {mins}"
    elif len(token) == 3:
        text = f"{sign} || {hours} || ':' || {mins}"
    else:
        text = f"{sign} || {hours} || (CASE WHEN abs({minutes}) % 60 = 0 THEN '' ELSE {mins} END)"
    return text if token[0] != "X" else f"(CASE WHEN {minutes} = 0 THEN 'Z' ELSE {text} END)"


def _format_with_offsets(args, types, pattern: str) -> str | None:
    """A literal pattern with zone offset letters (Z, X, x), formatted piece by piece: DuckDB's
    %z prints `+00` for a zone-less TIMESTAMP where java.time prints `+0000`."""
    pieces, start = [], 0
    for match in _OFFSET_TOKEN.finditer(pattern):
        if match.group(1) is None:
            continue
        pieces.append(("text", pattern[start:match.start()]))
        pieces.append(("offset", match.group(1)))
        start = match.end()
    if not pieces:
        return None
    pieces.append(("text", pattern[start:]))
    minutes = "0" if len(args) < 3 else (
        f"date_diff('minute', CAST({args[0]} AS TIMESTAMP), "
        f"{local_from_utc(f'CAST({args[0]} AS TIMESTAMP)', args[2])})")
    rendered = [_offset_sql(minutes, text) if kind == "offset"
                else _format_timestamp([args[0], quote_string(text)] + list(args[2:]), types)
                for kind, text in pieces if text]
    return f"CASE WHEN {args[0]} IS NOT NULL THEN {' || '.join(rendered)} END"


def _format_timestamp(args, types):
    pattern = literal_string(args[1])
    if pattern is not None:
        with_offsets = _format_with_offsets(args, types, pattern)
        if with_offsets is not None:
            return with_offsets
    ts = _ms(args[0]) if len(args) < 3 else _ms(local_from_utc(f"CAST({args[0]} AS TIMESTAMP)", args[2]))
    pattern = literal_string(args[1])
    if pattern is not None and "%Z" in java_to_strftime(pattern):
        # `z` is the zone's abbreviation at that instant (PDT, BST): DuckDB has no such field.
        from pyksqlite.expressions.java_time import zone_abbreviations
        from pyksqlite.expressions.python_udf import register_kernel
        kernel = register_kernel("__ksql_zone_abbrev", zone_abbreviations, [TIMESTAMP, STRING], STRING)
        zone = args[2] if len(args) >= 3 else "'UTC'"
        marked = quote_string(java_to_strftime(pattern).replace("%Z", "\x01"))
        return (f"replace(strftime({ts}, {marked}), chr(1), "
                f"{kernel}({_ms(args[0])}, {zone}))")
    return formatted_sql(ts, args[1])


def _parse_java(text: str, pattern: str) -> str:
    """A TIMESTAMP parsed with a Java pattern by the vectorized kernel of `java_time`, which
    parses as java.time does (case-insensitive, 'Z' offsets, defaulted fields) and takes
    patterns from columns; DuckDB's strptime for a literal pattern the kernel does not know."""
    from pyksqlite.expressions.java_time import compile_pattern, parse_epoch_millis
    literal = literal_string(pattern)
    if literal is not None and compile_pattern(literal) is None:
        return f"strptime({text}, {strftime_format_sql(pattern)})"
    from pyksqlite.expressions.python_udf import register_kernel
    kernel = register_kernel("__ksql_parse_java", parse_epoch_millis, [STRING, STRING], BIGINT)
    return f"CAST(epoch_ms({kernel}({text}, {pattern})) AS TIMESTAMP)"


def _parse_timestamp(args, types):
    parsed = _parse_java(args[0], args[1])
    return _ms(parsed if len(args) < 3 else utc_from_local(parsed, args[2]))


def _epoch_to_string(args, types):
    return _format_timestamp([f"epoch_ms({args[0]})"] + list(args[1:]), types)


def _string_to_epoch(args, types):
    return f"epoch_ms(CAST({_parse_timestamp(args, types)} AS TIMESTAMP))"


def _register_formats(registry) -> None:
    reg = registry.register
    for name in ("TIMESTAMPTOSTRING", "STRINGTOTIMESTAMP"):
        registry.clear_variants(name)
    reg("FORMAT_TIMESTAMP", (TIMESTAMP, STRING), STRING, _format_timestamp,
        description="Format a TIMESTAMP with a Java pattern, optionally in a time zone.", **CATEGORY)
    reg("FORMAT_TIMESTAMP", (TIMESTAMP, STRING, STRING), STRING, _format_timestamp, **CATEGORY)
    reg("PARSE_TIMESTAMP", (STRING, STRING), TIMESTAMP, _parse_timestamp,
        description="Parse a TIMESTAMP with a Java pattern, optionally in a time zone.", **CATEGORY)
    reg("PARSE_TIMESTAMP", (STRING, STRING, STRING), TIMESTAMP, _parse_timestamp, **CATEGORY)
    reg("TIMESTAMPTOSTRING", (BIGINT, STRING), STRING, _epoch_to_string,
        description="Format epoch milliseconds with a Java pattern (deprecated).", **CATEGORY)
    reg("TIMESTAMPTOSTRING", (BIGINT, STRING, STRING), STRING, _epoch_to_string, **CATEGORY)
    reg("STRINGTOTIMESTAMP", (STRING, STRING), BIGINT, _string_to_epoch,
        description="Parse epoch milliseconds with a Java pattern (deprecated).", **CATEGORY)
    reg("STRINGTOTIMESTAMP", (STRING, STRING, STRING), BIGINT, _string_to_epoch, **CATEGORY)
    reg("FORMAT_DATE", (DATE, STRING), STRING,
        lambda a, t: formatted_sql(a[0], a[1]),
        description="Format a DATE with a Java pattern.", **CATEGORY)
    reg("PARSE_DATE", (STRING, STRING), DATE,
        lambda a, t: f"CAST({_parse_java(a[0], a[1])} AS DATE)",
        description="Parse a DATE with a Java pattern.", **CATEGORY)
    reg("DATETOSTRING", (INTEGER, STRING), STRING,
        lambda a, t: formatted_sql(f"(DATE '1970-01-01' + {a[0]})", a[1]),
        description="Format days since the epoch with a Java pattern (deprecated).", **CATEGORY)
    reg("STRINGTODATE", (STRING, STRING), INTEGER,
        lambda a, t: (f"CAST(CAST({_parse_java(a[0], a[1])} AS DATE) "
                      f"- DATE '1970-01-01' AS INTEGER)"),
        description="Parse days since the epoch with a Java pattern (deprecated).", **CATEGORY)
    reg("FORMAT_TIME", (TIME, STRING), STRING,
        lambda a, t: formatted_sql(f"(DATE '1970-01-01' + {a[0]})", a[1]),
        description="Format a TIME with a Java pattern.", **CATEGORY)
    reg("PARSE_TIME", (STRING, STRING), TIME,
        lambda a, t: f"CAST({_parse_java(a[0], a[1])} AS TIME)",
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
