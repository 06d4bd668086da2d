"""Java's `toString` of ksqlDB values: what a Java UDF gets when it prints its arguments.

Doubles print as `Double.toString` (`3.1`, `1.0E7`), decimals as `BigDecimal.toString` (Python's
`str(Decimal)` follows the same rules), booleans in lower case, structs as Kafka Connect's
`Struct{A=bar}`, lists as `[1, 2]` and maps as `{k=v}`.
"""
from __future__ import annotations

from decimal import Decimal


def java_string(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(java_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_string(v)}" for k, v in value.items()) + "}"
    return str(value)


def java_struct(value: dict) -> str:
    """Kafka Connect's Struct.toString: the non-null fields, in schema order."""
    return "Struct{" + ",".join(f"{k}={java_string(v)}" for k, v in value.items() if v is not None) + "}"


def java_double(value: float) -> str:
    """Java's Double.toString: plain from 1e-3 to 1e7, else computerized scientific notation."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    digits = Decimal(repr(value))
    if 1e-3 <= abs(value) < 1e7:
        text = format(digits, "f")
        return text if "." in text else text + ".0"
    sign, numerals, exponent = digits.as_tuple()
    numerals = "".join(map(str, numerals)).rstrip("0") or "0"
    power = exponent + len(digits.as_tuple().digits) - 1
    mantissa = numerals[0] + "." + (numerals[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{power}"
