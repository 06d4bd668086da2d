"""ksqlDB's implicit coercion rules, table by table (engine/expressions/coercion.py)."""
from decimal import Decimal

import pytest

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions import coercion
from pyksqlite.grammar.ast import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME, TIMESTAMP, array,
                         decimal, map_of, struct)
from pyksqlite.grammar.parser import parse_expression
from tests.expressions.conftest import SCOPE

# (source, target, lax, result): the type `source` values take towards `target`, None if none.
COERCE_TYPE = [
    # numbers widen INT -> BIGINT -> DECIMAL -> DOUBLE, never back
    (INTEGER, BIGINT, False, BIGINT),
    (INTEGER, DOUBLE, False, DOUBLE),
    (BIGINT, INTEGER, False, None),
    (DOUBLE, decimal(4, 2), False, None),
    (decimal(4, 2), DOUBLE, False, DOUBLE),
    # towards a DECIMAL: the DECIMAL holding both (INT is DECIMAL(10, 0), BIGINT DECIMAL(19, 0))
    (INTEGER, decimal(4, 2), False, decimal(12, 2)),
    (BIGINT, decimal(2, 1), False, decimal(20, 1)),
    (decimal(2, 1), decimal(5, 2), False, decimal(5, 2)),
    (decimal(5, 1), decimal(3, 2), False, decimal(6, 2)),
    # a STRING converts to the temporal types and BYTES; other bases only to themselves
    (STRING, TIMESTAMP, False, TIMESTAMP),
    (STRING, DATE, False, DATE),
    (STRING, TIME, False, TIME),
    (STRING, BYTES, False, BYTES),
    (DATE, TIMESTAMP, False, None),
    (BOOLEAN, STRING, False, None),
    (STRING, INTEGER, False, None),
    # literals also convert to STRING, and a STRING literal to BOOLEAN and the numbers
    (BOOLEAN, STRING, True, STRING),
    (DOUBLE, STRING, True, STRING),
    (TIMESTAMP, STRING, True, STRING),
    (STRING, BOOLEAN, True, BOOLEAN),
    (STRING, decimal(3, 1), True, decimal(3, 1)),
    (BYTES, STRING, True, None),
    # collections element-wise; a STRUCT to the union of both structs' fields
    (array(INTEGER), array(BIGINT), False, array(BIGINT)),
    (array(BIGINT), array(INTEGER), False, None),
    (map_of(STRING, INTEGER), map_of(STRING, DOUBLE), False, map_of(STRING, DOUBLE)),
    (struct([("A", INTEGER)]), struct([("A", BIGINT), ("B", STRING)]), False,
     struct([("A", BIGINT), ("B", STRING)])),
    (struct([("A", INTEGER), ("C", BOOLEAN)]), struct([("A", BIGINT)]), False,
     struct([("A", BIGINT), ("C", BOOLEAN)])),
    (struct([("A", STRING)]), struct([("A", INTEGER)]), False, None),
]


@pytest.mark.parametrize("source,target,lax,result", COERCE_TYPE,
                         ids=[f"{s}->{t}{' lax' if lax else ''}" for s, t, lax, _ in COERCE_TYPE])
def test_coerce_type(source, target, lax, result):
    assert coercion.coerce_type(source, target, lax) == result


# (text, type): the number a string literal holds, as ksqlDB types it.
STRING_NUMBERS = [
    ("10", INTEGER),
    (" -7 ", INTEGER),
    ("2147483647", BIGINT),        # the INT bounds themselves are BIGINT (strictly inside INT)
    ("2147483648", BIGINT),
    ("9223372036854775807", decimal(19, 0)),
    ("4.000", decimal(4, 3)),
    ("0.05", decimal(3, 2)),       # below 1: one digit more than the scale
    ("2e1", decimal(2, 0)),        # an exponent makes a DECIMAL
    ("-12.5", decimal(3, 1)),
]


@pytest.mark.parametrize("text,expected", STRING_NUMBERS, ids=[t for t, _ in STRING_NUMBERS])
def test_string_number_type(text, expected):
    assert coercion.string_number_type(text) == expected


def test_a_string_that_is_no_number_is_rejected():
    with pytest.raises(ValueError):
        coercion.string_number_type("ten")


@pytest.mark.parametrize("value,expected", [("1.50", decimal(3, 2)), ("0", decimal(1, 0)),
                                            ("0.8", decimal(2, 1)), ("1E+3", decimal(4, 0)),
                                            ("123.4", decimal(4, 1))])
def test_decimal_type_of_a_value(value, expected):
    assert coercion.decimal_type_of_value(Decimal(value)) == expected


@pytest.mark.parametrize("text,expected", [("true", True), ("TrUe", True), ("tr", True), ("Y", True),
                                           ("no", False), ("fal", False), ("", None), ("yess", None)])
def test_boolean_text(text, expected):
    assert coercion.parse_boolean(text) == expected


# (expressions, common type): left to right, NULLs skipped, literals adapting to their peers.
COMMON_TYPES = [
    ("1, 2", INTEGER),
    ("1, 2.5", decimal(11, 1)),
    ("1, '2147483648'", BIGINT),
    ("I, 2.0, 3.00, '4.000', BI, D", DOUBLE),
    ("NULL, NULL", None),
    ("NULL, S", STRING),
    ("S, true, 10, 1.5", STRING),             # any literal converts to STRING
    ("B, 'yes'", BOOLEAN),
    ("ARR, ARRAY[1, 123456789000]", array(BIGINT)),
    ("ARR, ARRAY['3', NULL]", array(INTEGER)),
    # the union of the fields: the constructor's first, then those only the type so far has
    ("ST, STRUCT(F0 := 1, F9 := 'x')", struct([("F0", INTEGER), ("F9", STRING), ("NAME", STRING)])),
    ("MAP('a' := 1), MAP('b' := 5000000000)", map_of(STRING, BIGINT)),
]


def _typed_items(text):
    from pyksqlite.expressions.compiler import ExpressionCompiler
    compiler = ExpressionCompiler(SCOPE)
    exprs = list(parse_expression(f"ARRAY[{text}]").items)
    type_of = lambda e: compiler.compile(e).type   # noqa: E731
    return [(e, type_of(e)) for e in exprs], type_of


@pytest.mark.parametrize("text,expected", COMMON_TYPES, ids=[t for t, _ in COMMON_TYPES])
def test_common_type(text, expected):
    items, type_of = _typed_items(text)
    assert coercion.common_type(items, type_of) == expected


COMMON_TYPE_ERRORS = [
    ("B, 10", "operator does not exist: BOOLEAN = INTEGER (10)\n"
              "Hint: You might need to add explicit type casts."),
    ("I, true", "operator does not exist: INTEGER = BOOLEAN (true)"),
    ("S, D", "operator does not exist: STRING = DOUBLE (D)"),       # only literals become STRING
    ("1.5, 2, true", "operator does not exist: DECIMAL(11, 1) = BOOLEAN (true)"),
    ("D, 'ten'", 'invalid input syntax for type DOUBLE: "ten".'),
    ("B, 'maybe'", 'invalid input syntax for type BOOLEAN: "maybe".'),
    ("ARR, ARRAY[B]", "operator does not exist: ARRAY<INTEGER> = ARRAY<BOOLEAN> (ARRAY[B])"),
    ("ARR, ARRAY['10', 'x']", 'invalid input syntax for type INTEGER: "x".'),
    # order matters: a constructor first fixes its own type, which a column does not convert to
    ("ARRAY['3', NULL], ARR", "operator does not exist: ARRAY<STRING> = ARRAY<INTEGER> (ARR)"),
    ("ST, ARRAY[1]", "operator does not exist: STRUCT<`F0` INTEGER, `NAME` STRING> = ARRAY<INTEGER> "
                     "(ARRAY[1])"),
]


@pytest.mark.parametrize("text,message", COMMON_TYPE_ERRORS, ids=[t for t, _ in COMMON_TYPE_ERRORS])
def test_common_type_error(text, message):
    items, type_of = _typed_items(text)
    with pytest.raises(KsqlStatementException) as info:
        coercion.common_type(items, type_of)
    assert info.value.message.startswith(message)


# Function arguments cast implicitly by base type only: a number to a wider number, a STRING
# to a temporal type or BYTES.
@pytest.mark.parametrize("source,target,allowed", [
    ("INTEGER", "BIGINT", True), ("INTEGER", "DECIMAL", True), ("DECIMAL", "DOUBLE", True),
    ("DOUBLE", "DECIMAL", False), ("STRING", "TIMESTAMP", True), ("STRING", "BYTES", True),
    ("STRING", "INTEGER", False), ("BOOLEAN", "STRING", False), ("DATE", "TIMESTAMP", False)])
def test_function_argument_casts(source, target, allowed):
    assert coercion.base_casts_implicitly(source, target) == allowed


# INSERT INTO: a query column feeds a sink column of an equal type or a DECIMAL that fits.
@pytest.mark.parametrize("source,target,allowed", [
    (decimal(2, 1), decimal(5, 2), True), (decimal(5, 2), decimal(2, 1), False),
    (decimal(4, 1), decimal(4, 2), False), (INTEGER, BIGINT, False), (STRING, STRING, True)])
def test_insert_into_compatibility(source, target, allowed):
    assert coercion.insert_compatible(source, target) == allowed
