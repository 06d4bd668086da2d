"""Table-driven: expression text in, expected expression AST out; and types."""
import pytest

from pyksqlite.grammar import ast
from pyksqlite.grammar.parser import parse_expression, parse_type

col = ast.ColumnRef
lit = ast.IntegerLiteral

EXPRESSIONS = [
    ("a OR b AND NOT c", ast.LogicalBinary("OR", col("A"), ast.LogicalBinary(
        "AND", col("B"), ast.Not(col("C"))))),
    ("1 + 2 * 3", ast.ArithmeticBinary("+", lit(1), ast.ArithmeticBinary("*", lit(2), lit(3)))),
    ("a || b + c", ast.ArithmeticBinary("||", col("A"), ast.ArithmeticBinary("+", col("B"), col("C")))),
    ("-x * 2", ast.ArithmeticBinary("*", ast.ArithmeticUnary("-", col("X")), lit(2))),
    ("a - 1", ast.ArithmeticBinary("-", col("A"), lit(1))),
    ("-5", lit(-5)),
    ("-9223372036854775808", lit(-(2 ** 63))),
    ("1.50", ast.DecimalLiteral("1.50")),
    ("-1.5", ast.DecimalLiteral("-1.5")),
    ("1.5E0", ast.DoubleLiteral(1.5)),
    ("1E10", ast.DoubleLiteral(1e10)),
    ("'it''s'", ast.StringLiteral("it's")),
    ("TRUE AND NULL", ast.LogicalBinary("AND", ast.BooleanLiteral(True), ast.NullLiteral())),
    ("a != b", ast.Comparison("<>", col("A"), col("B"))),
    ("a >= 1", ast.Comparison(">=", col("A"), lit(1))),
    ("a IS NOT NULL", ast.IsNull(col("A"), True)),
    ("a IS NOT DISTINCT FROM b", ast.Comparison("IS NOT DISTINCT FROM", col("A"), col("B"))),
    ("a NOT BETWEEN 1 AND 2", ast.Between(col("A"), lit(1), lit(2), True)),
    ("a IN (1, 2)", ast.InList(col("A"), (lit(1), lit(2)))),
    ("a NOT LIKE 'x!%' ESCAPE '!'", ast.Like(col("A"), ast.StringLiteral("x!%"), "!", True)),
    ("CAST(a AS DECIMAL(5, 2))", ast.Cast(col("A"), ast.decimal(5, 2))),
    ("CASE WHEN a THEN 1 ELSE 2 END",
     ast.SearchedCase((ast.WhenClause(col("A"), lit(1)),), lit(2))),
    ("CASE a WHEN 1 THEN 'x' END",
     ast.SimpleCase(col("A"), (ast.WhenClause(lit(1), ast.StringLiteral("x")),))),
    ("ARRAY[1, 2]", ast.ArrayConstructor((lit(1), lit(2)))),
    ("MAP('a' := 1)", ast.MapConstructor(((ast.StringLiteral("a"), lit(1)),))),
    ("STRUCT(f := 1, `g` := 2)", ast.StructConstructor((("F", lit(1)), ("g", lit(2))))),
    ("s->a->b", ast.Dereference(ast.Dereference(col("S"), "A"), "B")),
    ("arr[1]['k']", ast.Subscript(ast.Subscript(col("ARR"), lit(1)), ast.StringLiteral("k"))),
    ("src.col", col("COL", "SRC")),
    ("\"MixedCase\"", col("MixedCase")),
    ("count(*)", ast.FunctionCall("COUNT", star=True)),
    ("count(DISTINCT x)", ast.FunctionCall("COUNT", (col("X"),), distinct=True)),
    ("TIMESTAMPADD(SECONDS, 5, ts)",
     ast.FunctionCall("TIMESTAMPADD", (ast.TimeUnitArg("SECOND"), lit(5), col("TS")))),
    ("transform(xs, x => x + 1)", ast.FunctionCall("TRANSFORM", (col("XS"), ast.Lambda(
        ("X",), ast.ArithmeticBinary("+", col("X"), lit(1)))))),
    ("reduce(m, 0, (s, k, v) => s + v)", ast.FunctionCall("REDUCE", (col("M"), lit(0), ast.Lambda(
        ("S", "K", "V"), ast.ArithmeticBinary("+", col("S"), col("V")))))),
    ("f((a) + 1)", ast.FunctionCall("F", (ast.ArithmeticBinary("+", col("A"), lit(1)),))),
    ("a /* note */ + -- rest\n 1", ast.ArithmeticBinary("+", col("A"), lit(1))),
]


@pytest.mark.parametrize("text, expected", EXPRESSIONS, ids=[e[0] for e in EXPRESSIONS])
def test_expression(text, expected):
    assert parse_expression(text) == expected


TYPES = [
    ("INT", ast.INTEGER), ("integer", ast.INTEGER), ("VARCHAR", ast.STRING), ("bigint", ast.BIGINT),
    ("BOOLEAN", ast.BOOLEAN), ("DOUBLE", ast.DOUBLE), ("BYTES", ast.BYTES), ("DATE", ast.DATE),
    ("TIME", ast.TIME), ("TIMESTAMP", ast.TIMESTAMP), ("DECIMAL(10, 3)", ast.decimal(10, 3)),
    ("ARRAY<MAP<STRING, ARRAY<INT>>>", ast.array(ast.map_of(ast.STRING, ast.array(ast.INTEGER)))),
    ("STRUCT<a INT, `b` STRUCT<c STRING>>",
     ast.struct([("A", ast.INTEGER), ("b", ast.struct([("C", ast.STRING)]))])),
    ("STRUCT<>", ast.struct([])),
    ("address", ast.SqlType("ADDRESS")),
]


@pytest.mark.parametrize("text, expected", TYPES, ids=[t[0] for t in TYPES])
def test_type(text, expected):
    assert parse_type(text) == expected
