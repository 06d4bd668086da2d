"""Numbers as ksqlDB writes them as text: a DOUBLE as Java's `Double.toString`, a DECIMAL with
all the digits of its scale. The one formatter for every place a number becomes text (CAST to
STRING, DELIMITED and JSON values, literals converted to STRING), as vectorized SQL for values
in batches and as Python for constants.

`Double.toString` writes the shortest digits that read back as the same double, with at least
one digit after the point: plain in [1e-3, 1e7) (`0.001`, `100.0`), else `d.dddE<n>` (`1.0E7`,
`1.0E-4`, `1.7976931348623157E308`). When one significant digit would do, Java writes two and
picks the two-digit number nearest the exact value, which differs from `d.0` only for
subnormals: `Double.MIN_VALUE` is `4.9E-324`.
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

from pyksqlite.common.sql_lambda import bind_once

# The exact value of Double.MIN_VALUE; every subnormal double is an integer multiple of it.
_MIN_VALUE_DIGITS = "4.9406564584124654417656879286822137236505980"
_SMALLEST_NORMAL = "2.2250738585072014E-308"


# ---- Python, for constants -------------------------------------------------------------------

def java_double_text(value: float) -> str:
    """`Double.toString(value)`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    digits, exponent = _java_digits(abs(value))
    if 1e-3 <= abs(value) < 1e7:
        return sign + _plain(digits, exponent)
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{sign}{mantissa}E{exponent}"


def _java_digits(magnitude: float) -> tuple[str, int]:
    """The significant digits Java writes and the decimal exponent of the first one."""
    shortest = Decimal(repr(magnitude))
    _, digit_tuple, exp = shortest.normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    if len(digits) == 1:
        exact = Decimal(magnitude)
        two = exact.scaleb(-exact.adjusted()).quantize(Decimal("0.1"), ROUND_HALF_EVEN)
        if two < 10 and float(two.scaleb(exact.adjusted())) == magnitude:
            digits = str(two).replace(".", "").rstrip("0") or "0"
            return digits, exact.adjusted()
    return digits, exp + len(digits) - 1


def _plain(digits: str, exponent: int) -> str:
    if exponent < 0:
        return "0." + "0" * (-exponent - 1) + digits
    whole = digits[:exponent + 1].ljust(exponent + 1, "0")
    fraction = digits[exponent + 1:] or "0"
    return f"{whole}.{fraction}"


def decimal_text(value: Decimal) -> str:
    """A DECIMAL's text: plain digits, all of its scale (`5.40`), as BigDecimal.toPlainString."""
    return format(value, "f")


# ---- SQL, for values in batches ----------------------------------------------------------------

def java_double_sql(sql: str) -> str:
    """SQL giving `Double.toString` of the DOUBLE expression `sql` (NULL stays NULL). Values in
    [1e-3, 1e7) print as DuckDB prints them; only the others take the slower path."""

    def render(v: str) -> str:
        sign = f"(CASE WHEN {v} < 0 THEN '-' ELSE '' END)"
        return (f"CASE WHEN isnan({v}) THEN 'NaN' WHEN isinf({v}) THEN "
                f"(CASE WHEN {v} > 0 THEN 'Infinity' ELSE '-Infinity' END) "
                f"WHEN abs({v}) < {_SMALLEST_NORMAL} THEN {sign} || {_subnormal(f'abs({v})')} "
                f"ELSE {sign} || {_scientific(f'abs({v})')} END")
    plain_range = f"{sql} = 0 OR (abs({sql}) >= 0.001 AND abs({sql}) < 10000000)"
    return f"(CASE WHEN {plain_range} THEN CAST({sql} AS VARCHAR) ELSE {bind_once(sql, render)} END)"


def _shortest_digits(text: str) -> str:
    """The significant digits of DuckDB's shortest text of a positive double."""
    return (f"rtrim(ltrim(replace(CASE WHEN contains({text}, 'e') THEN split_part({text}, 'e', 1) "
            f"ELSE {text} END, '.', ''), '0'), '0')")


def _scientific(abs_sql: str) -> str:
    """Java's scientific form of a positive double, from DuckDB's shortest-digits text."""

    def render(text: str) -> str:
        exponent = (f"CASE WHEN contains({text}, 'e') THEN CAST(split_part({text}, 'e', 2) AS INTEGER) "
                    f"WHEN starts_with({text}, '0.') THEN -(length(split_part({text}, '.', 2)) - "
                    f"length(ltrim(split_part({text}, '.', 2), '0')) + 1) "
                    f"ELSE length(split_part({text}, '.', 1)) - 1 END")
        mantissa = bind_once(_shortest_digits(text), lambda d: (
            f"{d}[1] || '.' || CASE WHEN length({d}) > 1 THEN {d}[2:] ELSE '0' END"))
        return f"{mantissa} || 'E' || CAST({exponent} AS VARCHAR)"
    return bind_once(f"CAST({abs_sql} AS VARCHAR)", render)


def _subnormal(abs_sql: str) -> str:
    """A positive subnormal: as `_scientific`, except that one shortest digit becomes the two
    digits nearest the exact value (k times the exact Double.MIN_VALUE)."""

    def render(text: str) -> str:
        exact = f"(round({abs_sql} / 4.9E-324) * {_MIN_VALUE_DIGITS})"
        exponent = f"CAST(floor(log10({exact})) AS INTEGER)"
        two = f"round({exact} / pow(10, {exponent}), 1)"
        two_digits = (f"(CASE WHEN {two} >= 10 THEN '1.0E' || CAST({exponent} - 323 AS VARCHAR) "
                      f"ELSE printf('%.1f', {two}) || 'E' || CAST({exponent} - 324 AS VARCHAR) END)")
        return (f"(CASE WHEN length({_shortest_digits(text)}) = 1 THEN {two_digits} "
                f"ELSE {_scientific(abs_sql)} END)")
    return bind_once(f"CAST({abs_sql} AS VARCHAR)", render)
