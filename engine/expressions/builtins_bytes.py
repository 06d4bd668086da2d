"""BYTES conversions: TO_BYTES/FROM_BYTES with hex, utf8, ascii and base64, and
INT_FROM_BYTES, BIGINT_FROM_BYTES, DOUBLE_FROM_BYTES with a byte order.

All of them work on the hex text of the bytes (`hex`/`unhex`), which DuckDB vectorizes; the
numeric readers parse that text as an unsigned integer and reinterpret it as Java would.
"""
from __future__ import annotations

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.builtins_common import fail_sql, required_literal
from pyksqlite.expressions.casts import bind_once, fresh_lambda_param
from pyksqlite.grammar.ast import BIGINT, BYTES, DOUBLE, INTEGER, STRING

CATEGORY = dict(category="BYTES")
ENCODINGS = ("hex", "utf8", "ascii", "base64")


def _check_encoding(name: str, function: str) -> str:
    if name.lower() not in ENCODINGS:
        raise KsqlStatementException(
            f"Supported encoding types are: hex, utf8, ascii and base64 (got '{name}' in "
            f"{function}).")
    return name.lower()


def decode_string_sql(value: str, encoding: str, function: str) -> str:
    """BYTES SQL for the string `value` read in `encoding` (Java's decoders)."""
    encoding = _check_encoding(encoding, function)
    if encoding == "hex":
        return bind_once(value, _unhex_with_prefix)
    if encoding == "utf8":
        return f"encode({value})"
    if encoding == "ascii":
        return f"encode(regexp_replace({value}, '[^\\x00-\\x7F]', '?', 'g'))"
    return f"from_base64({value})"


def _unhex_with_prefix(value: str) -> str:
    """Hex text, optionally as `0x...` or `X'...'`; NULL when it is not hex."""
    digits = (f"CASE WHEN starts_with({value}, '0x') THEN substr({value}, 3) "
              f"WHEN regexp_full_match({value}, '[xX]''.*''') THEN substr({value}, 3, length({value}) - 3) "
              f"ELSE {value} END")
    return bind_once(digits, lambda d: (
        f"CASE WHEN regexp_full_match({d}, '([0-9a-fA-F]{{2}})*') THEN unhex({d}) END"))


def encode_bytes_sql(value: str, encoding: str, function: str, upper_hex: bool) -> str:
    """STRING SQL for the bytes `value` written in `encoding` (Java's encoders: invalid UTF-8
    and non-ASCII bytes become U+FFFD)."""
    encoding = _check_encoding(encoding, function)
    if encoding == "hex":
        return f"hex({value})" if upper_hex else f"lower(hex({value}))"
    if encoding == "base64":
        return f"to_base64({value})"
    if encoding == "ascii":
        return _bytes_per_byte(value)
    return bind_once(value, lambda v: f"coalesce(TRY(decode({v})), {_bytes_per_byte(v)})")


def _bytes_per_byte(value: str) -> str:
    """Each ASCII byte as its character, every other byte as U+FFFD."""
    pair = fresh_lambda_param()
    chars = (f"list_transform(regexp_extract_all(hex({value}), '..'), lambda {pair}: "
             f"CASE WHEN {pair} < '80' THEN chr(CAST('0x' || {pair} AS INTEGER)) "
             f"ELSE '\ufffd' END)")
    return f"CASE WHEN {value} IS NULL THEN NULL ELSE array_to_string({chars}, '') END"


def _to_bytes(args, types):
    return decode_string_sql(args[0], required_literal(args[1], "to_bytes", "encoding"),
                             "to_bytes")


def _from_bytes(args, types):
    return encode_bytes_sql(args[0], required_literal(args[1], "from_bytes", "encoding"),
                            "from_bytes", upper_hex=True)


# ---- numbers from bytes ------------------------------------------------------------------------

def _ordered_hex(value: str, order_sql: str | None) -> str:
    """The hex text in big-endian order (reversing the bytes for LITTLE_ENDIAN)."""
    if order_sql is None:
        return f"hex({value})"
    order = required_literal(order_sql, "from_bytes", "byte order").upper()
    if order not in ("BIG_ENDIAN", "LITTLE_ENDIAN"):
        raise KsqlStatementException(
            f"Byte order must be BIG_ENDIAN or LITTLE_ENDIAN; got '{order}'.")
    if order == "BIG_ENDIAN":
        return f"hex({value})"
    return f"array_to_string(list_reverse(regexp_extract_all(hex({value}), '..')), '')"


def _sized(value: str, size: int, body: str, duck_type: str, name: str) -> str:
    return (f"CASE WHEN {value} IS NULL THEN NULL WHEN octet_length({value}) <> {size} THEN "
            f"{fail_sql(f'Number of bytes must be equal to {size}, but found a different count', duck_type)} "
            f"ELSE {body} END")


def _int_from_bytes(args, types):
    unsigned = f"CAST('0x' || {_ordered_hex(args[0], args[1] if len(args) > 1 else None)} AS BIGINT)"
    signed = f"CAST(CASE WHEN {unsigned} >= 2147483648 THEN {unsigned} - 4294967296 ELSE {unsigned} END AS INTEGER)"
    return _sized(args[0], 4, signed, "INTEGER", "int_from_bytes")


def _unsigned64(args) -> str:
    return f"CAST(CAST('0x' || {_ordered_hex(args[0], args[1] if len(args) > 1 else None)} AS UBIGINT) AS HUGEINT)"


def _bigint_from_bytes(args, types):
    unsigned = _unsigned64(args)
    signed = (f"CAST(CASE WHEN {unsigned} >= 9223372036854775808 "
              f"THEN {unsigned} - 18446744073709551616 ELSE {unsigned} END AS BIGINT)")
    return _sized(args[0], 8, signed, "BIGINT", "bigint_from_bytes")


def _double_from_bytes(args, types):
    """IEEE 754 binary64 from its 64 bits: sign, 11-bit exponent, 52-bit fraction."""
    def decode(bits: str) -> str:
        sign = f"(CASE WHEN {bits} >= 9223372036854775808 THEN -1.0 ELSE 1.0 END)"
        exponent = f"CAST(({bits} // 4503599627370496) % 2048 AS INTEGER)"
        fraction = f"CAST({bits} % 4503599627370496 AS DOUBLE)"
        return (f"CASE WHEN {exponent} = 2047 AND {fraction} = 0 THEN {sign} * CAST('Infinity' AS DOUBLE) "
                f"WHEN {exponent} = 2047 THEN CAST('NaN' AS DOUBLE) "
                f"WHEN {exponent} = 0 THEN {sign} * {fraction} * pow(2.0, -1074) "
                f"ELSE {sign} * (1.0 + {fraction} / 4503599627370496.0) * pow(2.0, {exponent} - 1023) END")
    return _sized(args[0], 8, bind_once(_unsigned64(args), decode), "DOUBLE", "double_from_bytes")


def register_bytes(registry) -> None:
    reg = registry.register
    reg("TO_BYTES", (STRING, STRING), BYTES, _to_bytes,
        description="A string's bytes in an encoding: hex, utf8, ascii or base64.", **CATEGORY)
    reg("FROM_BYTES", (BYTES, STRING), STRING, _from_bytes,
        description="Bytes as a string in an encoding: hex, utf8, ascii or base64.", **CATEGORY)
    for name, render, returns in (("INT_FROM_BYTES", _int_from_bytes, INTEGER),
                                  ("BIGINT_FROM_BYTES", _bigint_from_bytes, BIGINT),
                                  ("DOUBLE_FROM_BYTES", _double_from_bytes, DOUBLE)):
        reg(name, (BYTES,), returns, render,
            description=f"Read a {returns} from bytes (BIG_ENDIAN unless a byte order is given).",
            **CATEGORY)
        reg(name, (BYTES, STRING), returns, render, **CATEGORY)
