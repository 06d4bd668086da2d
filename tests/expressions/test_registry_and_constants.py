"""The function registry's listings and resolution, constant evaluation and implicit coercion."""
from decimal import Decimal

import pytest

from pyksqlite.common.errors import KsqlException
from pyksqlite.expressions.compiler import TypedSql, coerce_sql, evaluate_constant
from pyksqlite.expressions.functions import FunctionRegistry, default_registry
from pyksqlite.grammar.ast import BIGINT, DOUBLE, INTEGER, STRING, decimal
from pyksqlite.grammar.parser import parse_expression


def test_listing_and_describe():
    names = {row[0]: row for row in default_registry().list_functions()}
    assert names["UCASE"][1] == "scalar" and names["SUM"][1] == "aggregate"
    assert names["EXPLODE"][1] == "table"
    assert len(default_registry().describe("SUBSTRING").variants) == 4  # STRING and BYTES overloads


def test_exact_match_preferred_over_implicit_cast():
    registry = FunctionRegistry()
    registry.register("F", (INTEGER, STRING), STRING, "'int'")
    registry.register("F", (DOUBLE, STRING), STRING, "'double'")
    assert registry.resolve("F", [INTEGER, STRING]).variant.template == "'int'"
    assert registry.resolve("F", [DOUBLE, STRING]).variant.template == "'double'"
    assert registry.resolve("F", [BIGINT, STRING]).param_types == (DOUBLE, STRING)


@pytest.mark.parametrize("text,value,typ", [
    ("1 + 2", 3, INTEGER),
    ("1.5 * 2", Decimal("3.0"), decimal(13, 1)),
    ("CONCAT('a', 'b')", "ab", STRING),
    ("ARRAY[1, 2]", [1, 2], None),
])
def test_evaluate_constant(text, value, typ):
    result, result_type = evaluate_constant(parse_expression(text))
    assert result == value
    if typ is not None:
        assert result_type == typ


def test_coerce_sql_widens_and_rejects():
    assert coerce_sql(TypedSql("x", INTEGER), BIGINT).type == BIGINT
    with pytest.raises(KsqlException):
        coerce_sql(TypedSql("x", STRING), INTEGER)
