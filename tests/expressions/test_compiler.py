"""Table-driven tests: expression text -> values over the fixture batch and ksqlDB type."""
from decimal import Decimal

import pytest

from pyksqlite.grammar.ast import (BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, TIMESTAMP, array, decimal,
                         map_of, struct)

CASES = [
    # literals
    ("1", [1, 1, 1], INTEGER),
    ("3000000000", [3000000000] * 3, BIGINT),
    ("1.50", [Decimal("1.50")] * 3, decimal(3, 2)),
    ("1.5E0", [1.5] * 3, DOUBLE),
    ("'x'", ["x"] * 3, STRING),
    # arithmetic
    ("I + 1", [8, -6, None], INTEGER),
    ("I / 2", [3, -3, None], INTEGER),
    ("I % 2", [1, -1, None], INTEGER),
    ("I / 0", [None, None, None], INTEGER),
    ("I + BI", [9, -5, None], BIGINT),
    ("2147483647 + I", [-2147483642, 2147483640, None], INTEGER),
    ("D / 0", [float("inf"), float("-inf"), None], DOUBLE),
    ("I * D", [10.5, 14.0, None], DOUBLE),
    ("DEC + 1", [Decimal("11.10"), Decimal("-0.05"), None], decimal(13, 2)),
    ("DEC * DEC", [Decimal("102.0100"), Decimal("1.1025"), None], decimal(11, 4)),
    ("-I", [-7, 7, None], INTEGER),
    ("S || '!'", ["hello!", "World!", "!"], STRING),
    # comparisons and logic
    ("I > 0", [True, False, False], BOOLEAN),  # ksqlDB: a NULL operand compares false
    ("I = BI", [False, False, False], BOOLEAN),
    ("I IS DISTINCT FROM NULL", [True, True, False], BOOLEAN),
    ("B AND I > 0", [True, False, False], BOOLEAN),
    ("NOT B", [False, True, None], BOOLEAN),
    ("S IS NULL", [False, False, True], BOOLEAN),
    ("I BETWEEN 0 AND 10", [True, False, None], BOOLEAN),
    ("I IN (7, '8')", [True, False, None], BOOLEAN),
    ("S LIKE 'h%'", [True, False, None], BOOLEAN),
    ("S LIKE 'w%'", [False, False, None], BOOLEAN),
    ("TS > '1970-01-01T00:00:00'", [True, True, False], BOOLEAN),
    # CASE
    ("CASE WHEN I > 0 THEN 'pos' WHEN I < 0 THEN 'neg' END", ["pos", "neg", None], STRING),
    ("CASE WHEN I > 0 THEN I ELSE BI END", [7, 2, 3], BIGINT),
    ("CASE I WHEN 7 THEN 'seven' ELSE 'other' END", ["seven", "other", "other"], STRING),
    # casts
    ("CAST(I AS STRING)", ["7", "-7", None], STRING),
    ("CAST(D AS STRING)", ["1.5", "-2.0", None], STRING),
    ("CAST(1.0E10 AS STRING)", ["1.0E10"] * 3, STRING),
    ("CAST(D AS INTEGER)", [1, -2, None], INTEGER),
    ("CAST(DEC AS INTEGER)", [10, -1, None], INTEGER),
    ("CAST(DEC AS STRING)", ["10.10", "-1.05", None], STRING),
    ("CAST(I AS DECIMAL(4,1))", [Decimal("7.0"), Decimal("-7.0"), None], decimal(4, 1)),
    ("CAST('true' AS BOOLEAN)", [True] * 3, BOOLEAN),
    ("CAST('12' AS INTEGER)", [12] * 3, INTEGER),
    ("CAST(ARR AS STRING)", ["[1, 2, 3]", "[]", None], STRING),
    ("CAST(M AS STRING)", ["{a=1}", "{b=2}", None], STRING),
    ("CAST(ST AS STRING)", ["Struct{F0=1,NAME=x}", None, "Struct{F0=null,NAME=z}"], STRING),
    ("CAST(ARR AS ARRAY<STRING>)", [["1", "2", "3"], [], None], array(STRING)),
    ("CAST(TS AS STRING)", ["1970-01-01T00:00:01.000", "2022-04-28T21:44:47.943", None], STRING),
    # structures
    ("ST->F0", [1, None, None], INTEGER),
    ("ARR[1]", [1, None, None], INTEGER),
    ("ARR[-1]", [3, None, None], INTEGER),
    ("ARR[10]", [None, None, None], INTEGER),
    ("M['a']", [1, None, None], INTEGER),
    ("ARRAY[I, 1]", [[7, 1], [-7, 1], [None, 1]], array(INTEGER)),
    ("ARRAY[NULL, 10, '2e1']", [[None, 10, 20]] * 3, array(INTEGER)),
    ("ARRAY[I, BI]", [[7, 2], [-7, 2], [None, 3]], array(BIGINT)),
    ("MAP('k' := I)", [[("k", 7)], [("k", -7)], [("k", None)]], map_of(STRING, INTEGER)),
    ("STRUCT(A := I, B := S)", [{"A": 7, "B": "hello"}, {"A": -7, "B": "World"},
                               {"A": None, "B": None}], struct([("A", INTEGER), ("B", STRING)])),
    # functions
    ("UCASE(S)", ["HELLO", "WORLD", None], STRING),
    ("LEN(S)", [5, 5, None], INTEGER),
    ("SUBSTRING(S, 2)", ["ello", "orld", None], STRING),
    ("SUBSTRING(S, -3, 2)", ["ll", "rl", None], STRING),
    ("CONCAT(S, NULL, 'x')", ["hellox", "Worldx", "x"], STRING),
    ("ABS(I)", [7, 7, None], INTEGER),
    ("ROUND(D)", [2, -2, None], BIGINT),
    # ksqlDB rounds decimals like Math.round: half up for positives, half down for negatives.
    ("ROUND(DEC, 1)", [Decimal("10.10"), Decimal("-1.00"), None], decimal(5, 2)),
    ("GREATEST(I, 3, 9)", [9, 9, 9], INTEGER),
    ("COALESCE(I, 0)", [7, -7, 0], INTEGER),
    ("IFNULL(S, 'none')", ["hello", "World", "none"], STRING),
    ("ARRAY_LENGTH(ARR)", [3, 0, None], INTEGER),
    ("ARRAY_CONTAINS(ARR, 2)", [True, False, None], BOOLEAN),
    ("SQRT(4)", [2.0] * 3, DOUBLE),
    ("FROM_UNIXTIME(BI)", [2, 2, 3], TIMESTAMP),
    ("UNIX_TIMESTAMP(TS)", [1000, 1651182287943, None], BIGINT),
    ("TRANSFORM(ARR, X => X + I)", [[8, 9, 10], [], None], array(INTEGER)),
    ("FILTER(ARR, I => I > 1)", [[2, 3], [], None], array(INTEGER)),
    # REDUCE over a NULL array gives the initial state (QTT reduce-array).
    ("REDUCE(ARR, 0, (S, X) => S + X)", [6, 0, 0], INTEGER),
    ("EXTRACTJSONFIELD('{\"a\": {\"b\": \"v\"}}', '$.a.b')", ["v"] * 3, STRING),
]


@pytest.mark.parametrize("text,expected,expected_type", CASES, ids=[c[0] for c in CASES])
def test_expression(evaluate, text, expected, expected_type):
    values, typ = evaluate(text)
    assert typ == expected_type
    if expected_type == TIMESTAMP:
        values = [int(v.timestamp() * 1000) if v else None for v in values]
    assert values == expected


def test_predicate_is_null_safe_on_errors(evaluate):
    values, typ = evaluate("I / 0 > 1", predicate=True)
    assert not any(values) and typ == BOOLEAN


def test_random_is_not_wrapped_in_try(evaluate):
    values, _ = evaluate("RANDOM()")
    assert all(0 <= v < 1 for v in values)
