"""Numbers as ksqlDB writes them as text: Java's Double.toString for a DOUBLE (in CAST to
STRING, DELIMITED and literals converted to STRING), every digit of the scale for a DECIMAL (in
JSON too). One formatter, run vectorized in SQL and in Python for constants; both agree."""
from decimal import Decimal

import pytest

from pyksqlite.common.duck import run_sql
from pyksqlite.common.number_text import decimal_text, java_double_sql, java_double_text
import pyarrow as pa

DOUBLES = [
    (4.9e-324, "4.9E-324"),                 # Double.MIN_VALUE: two digits, nearest the exact value
    (1e-323, "9.9E-324"),
    (1.7976931348623157e308, "1.7976931348623157E308"),
    (1e7, "1.0E7"),                         # from 10^7 on: scientific
    (9999999.0, "9999999.0"),
    (12345678.9, "1.23456789E7"),
    (0.001, "0.001"),                       # from 10^-3 up: plain
    (1e-4, "1.0E-4"),
    (-1.5e-5, "-1.5E-5"),
    (100.0, "100.0"),
    (0.1, "0.1"),
    (0.0, "0.0"),
    (-0.0, "-0.0"),
    (1e23, "1.0E23"),
    (float("nan"), "NaN"),
    (float("inf"), "Infinity"),
    (float("-inf"), "-Infinity"),
]


@pytest.mark.parametrize("value, text", DOUBLES, ids=[t for _, t in DOUBLES])
def test_double_as_java_prints_it(value, text):
    assert java_double_text(value) == text


def test_the_vectorized_formatter_agrees():
    values = [v for v, _ in DOUBLES] + [None]
    result = run_sql(f"SELECT {java_double_sql('x')} AS t FROM nums", nums=pa.table({"x": values}))
    assert result.column(0).to_pylist() == [t for _, t in DOUBLES] + [None]


@pytest.mark.parametrize("value, text", [("5.40", "5.40"), ("-0.050", "-0.050"), ("10", "10"),
                                         ("1E+3", "1000")])
def test_decimal_text_keeps_the_scale(value, text):
    assert decimal_text(Decimal(value)) == text
