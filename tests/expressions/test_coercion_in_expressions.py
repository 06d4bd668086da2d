"""Every construct that mixes types converts them by the one coercion rule (compiled and run)."""
import datetime as dt
from decimal import Decimal

import pytest

from pyksqlite.common.errors import KsqlException
from pyksqlite.expressions.compiler import ExpressionCompiler
from pyksqlite.grammar.ast import BIGINT, BOOLEAN, DATE, DOUBLE, INTEGER, STRING, array, decimal
from pyksqlite.grammar.parser import parse_expression
from tests.expressions.conftest import SCOPE, run

CASES = [
    # comparisons of collections convert both sides to their common type
    ("ARR = CAST(ARR AS ARRAY<BIGINT>)", [True, True, False], BOOLEAN),
    ("ARR = ARRAY[1, 2, 3]", [True, False, False], BOOLEAN),
    ("ST = STRUCT(F0 := 1, NAME := 'x')", [True, False, False], BOOLEAN),
    ("ST = STRUCT(F0 := 1)", [False, False, False], BOOLEAN),   # NAME is NULL on the right
    ("M = MAP('a' := CAST(1 AS BIGINT))", [True, False, False], BOOLEAN),
    # IN: the value and the list share one type; literals convert, never NULL
    ("S IN ('hello', true)", [True, False, False], BOOLEAN),
    ("B IN ('yes')", [True, False, False], BOOLEAN),
    ("I IN (7.0, '8')", [True, False, False], BOOLEAN),
    ("DEC IN (10.1)", [True, False, False], BOOLEAN),
    ("I NOT IN (7)", [False, True, True], BOOLEAN),
    # BETWEEN bounds of a wider type
    ("I BETWEEN 6.5 AND 7.5", [True, False, False], BOOLEAN),
    # constructors widen their elements; a map's keys keep their own type
    ("ARRAY[I, 2.5]", [[Decimal("7.0"), Decimal("2.5")], [Decimal("-7.0"), Decimal("2.5")],
                        [None, Decimal("2.5")]], array(decimal(11, 1))),
    ("ARRAY[D, 1]", [[1.5, 1.0], [-2.0, 1.0], [None, 1.0]], array(DOUBLE)),
    ("MAP(1 := 'a', 2 := 'b')[2]", ["b", "b", "b"], STRING),
    # CASE converts nothing but a NULL branch
    ("CASE WHEN B THEN BI ELSE NULL END", [2, None, None], BIGINT),
    # a STRING is read as a timestamp by ksqlDB's partial parser (left-out parts are earliest)
    ("CAST('1970-01' AS DATE)", [dt.date(1970, 1, 1)] * 3, DATE),
    ("TS > '2022'", [False, True, False], BOOLEAN),
    ("TS = '1970-01-01T01:00:01+01:00'", [True, False, False], BOOLEAN),
    ("CAST('not a time' AS TIMESTAMP) IS NULL", [True] * 3, BOOLEAN),
    # functions: an exact overload first, else implicit casts (INT to DECIMAL is DECIMAL(10, 0))
    ("ABS(I)", [7, 7, None], INTEGER),
    ("LEAST(I, 3)", [3, -7, 3], INTEGER),   # NULL arguments are skipped
]


@pytest.mark.parametrize("text,expected,expected_type", CASES, ids=[c[0] for c in CASES])
def test_coerced_expression(text, expected, expected_type):
    values, typ = run(text)
    assert typ == expected_type
    assert values == expected


ERRORS = [
    # ksqlDB's CASE: every branch of one type, no implicit conversion
    ("CASE WHEN B THEN I ELSE BI END", "Invalid Case expression. Type for the default clause should be "
                                       "the same as for 'THEN' clauses.\nTHEN type: INTEGER.\nDEFAULT type: BIGINT."),
    ("CASE WHEN B THEN 'a' WHEN I = 1 THEN 10 END",
     "Invalid Case expression. Type for all 'THEN' clauses should be the same.\n"
     "THEN expression 'WHEN (I = 1) THEN 10' has type: INTEGER.\nPrevious THEN expression(s) type: STRING."),
    ("B < B", "Cannot compare B (BOOLEAN) to B (BOOLEAN) with LESS_THAN."),   # BOOLEAN: = and <> only
    ("S = I", "Cannot compare S (STRING) to I (INTEGER) with EQUAL."),
    ("COALESCE(I, BI)", "Function 'COALESCE' does not accept parameters (INTEGER, BIGINT)."),
    ("LEAST(I, BI, 1.5)", "Function 'least' cannot be resolved due to ambiguous method parameters "
                          "(INTEGER, BIGINT, DECIMAL(2, 1))."),
]


@pytest.mark.parametrize("text,message", ERRORS, ids=[c[0] for c in ERRORS])
def test_coercion_error(text, message):
    with pytest.raises(KsqlException) as info:
        ExpressionCompiler(SCOPE).compile_projection(parse_expression(text))
    assert info.value.message.startswith(message)
