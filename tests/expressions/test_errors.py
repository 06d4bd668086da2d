"""ksqlDB's error messages for invalid expressions (texts taken from its QTT cases)."""
import pytest

from pyksqlite.common.errors import KsqlException
from pyksqlite.expressions.compiler import ExpressionCompiler
from pyksqlite.expressions.scope import ColumnBinding, Scope
from pyksqlite.grammar.parser import parse_expression
from tests.expressions.conftest import SCOPE

PROJECTION_ERRORS = [
    ("I < 'x'", "Cannot compare I (INTEGER) to 'x' (STRING) with LESS_THAN."),
    ("ARR < ARR", "Cannot compare ARR (ARRAY<INTEGER>) to ARR (ARRAY<INTEGER>) with LESS_THAN."),
    ("NULL <> NULL", "Comparison with NULL not supported: NULL <> NULL"),
    ("NULL", "Can't infer a type of null. Please explicitly cast it to a required type, "
             "e.g. CAST(null AS VARCHAR)."),
    ("CASE WHEN B THEN NULL ELSE NULL END",
     "Invalid Case expression. All case branches have NULL type"),
    ("CAST(S AS ARRAY<INTEGER>)", "Invalid Select: Cast of STRING to ARRAY<INTEGER> is not supported"),
    ("ARRAY[1, 'not a number']", 'invalid input syntax for type INTEGER: "not a number"'),
    ("MAP('a' := 1, 'b' := 'hello')", 'invalid input syntax for type INTEGER: "hello".'),
    ("ARRAY[NULL]", "Cannot construct an array with all NULL elements "
                    "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, "
                    "you may cast a NULL value to the desired type."),
    ("GREATEST(I, BI)", "Function 'greatest' cannot be resolved due to ambiguous method "
                        "parameters (INTEGER, BIGINT)."),
    ("GREATEST(S, I)", "Function 'greatest' does not accept parameters (STRING, INTEGER)."),
    ("GREATEST()", "Function 'greatest' does not accept parameters ()."),
    ("WONT_FIND_ME(I)", "Can't find any functions with the name 'WONT_FIND_ME'"),
    ("UNKNOWN", "SELECT column 'UNKNOWN' cannot be resolved."),
    ("SUM(I)", "Use of aggregate function SUM requires a GROUP BY clause."),
]

PREDICATE_ERRORS = [
    ("I >= 'not an int'", "Error in WHERE expression: Cannot compare I (INTEGER) to "
                          "'not an int' (STRING) with GREATER_THAN_OR_EQUAL."),
    ("RANDOM() + 1.5", "Type error in WHERE expression: Should evaluate to boolean but is "
                       "(RANDOM() + 1.5) (DOUBLE) instead."),
    ("TRUE + 1.5", "Error in WHERE expression: Error processing expression: (true + 1.5). "
                   "Unsupported arithmetic types. BOOLEAN DECIMAL"),
    ("BOB = 1", "WHERE column 'BOB' cannot be resolved."),
    ("B IN (true, 'Not a boolean')",
     'Invalid Predicate: invalid input syntax for type BOOLEAN: "Not a boolean".'),
    ("B IN (true, 10)", "Invalid Predicate: operator does not exist: BOOLEAN = INTEGER (10)\n"
                        "Hint: You might need to add explicit type casts."),
    ("BI IN (10, S)", "Invalid Predicate: operator does not exist: BIGINT = STRING (S)"),
    ("ARR IN (ARR, ARRAY[B])",
     "Invalid Predicate: operator does not exist: ARRAY<INTEGER> = ARRAY<BOOLEAN> (ARRAY[B])"),
]


@pytest.mark.parametrize("text,message", PROJECTION_ERRORS, ids=[c[0] for c in PROJECTION_ERRORS])
def test_projection_error(text, message):
    with pytest.raises(KsqlException) as info:
        ExpressionCompiler(SCOPE).compile_projection(parse_expression(text))
    assert info.value.message == message


@pytest.mark.parametrize("text,message", PREDICATE_ERRORS, ids=[c[0] for c in PREDICATE_ERRORS])
def test_predicate_error(text, message):
    with pytest.raises(KsqlException) as info:
        ExpressionCompiler(SCOPE).compile_predicate(parse_expression(text), clause="WHERE")
    assert info.value.message == message


def test_ambiguous_and_qualified_columns():
    binding = ColumnBinding('"I1_F0"', SCOPE.columns["I"].type)
    scope = Scope({}, {("I1", "F0"): binding, ("I2", "F0"): binding}, ambiguous={"F0"})
    compiler = ExpressionCompiler(scope)
    assert compiler.compile(parse_expression("I1.F0")).sql == '"I1_F0"'
    with pytest.raises(KsqlException, match="Column 'F0' is ambiguous. Could be I1.F0 or I2.F0."):
        compiler.compile(parse_expression("F0"))
    with pytest.raises(KsqlException, match="'UNKNOWN' is not a valid stream/table name or alias."):
        compiler.compile(parse_expression("UNKNOWN.F0"))
