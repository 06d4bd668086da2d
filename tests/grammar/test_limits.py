"""Statement limits (grammar/limits.py): what one statement may ask of the parser is bounded, and
a statement over a bound fails with LimitExceeded naming the property to raise, never with
RecursionError or after minutes of work. Also the linear scans hostile text could make slow."""
from __future__ import annotations

import pytest

from pyksqlite.grammar import ast
from pyksqlite.grammar.errors import ParseError
from pyksqlite.grammar.limits import DEFAULT_LIMITS, LimitExceeded, Limits, type_depth
from pyksqlite.grammar.parser import (code_start, leading_word, parse, parse_expression, parse_statement, parse_type,
                            split_statements, substitute_variables)


def _exceeds(prop: str, text: str, limits: Limits = DEFAULT_LIMITS) -> LimitExceeded:
    with pytest.raises(LimitExceeded) as caught:
        parse_statement(text, limits=limits)
    assert caught.value.prop == prop and prop in caught.value.message
    return caught.value


def test_a_long_statement_is_refused_before_it_is_lexed():
    error = _exceeds("ksqlite.limits.statement.chars", "SELECT '" + "x" * 100 + "' FROM s;",
                     Limits(statement_chars=50))
    assert error.size == len("SELECT '" + "x" * 100 + "' FROM s;") and error.limit == 50


def test_the_token_count_is_bounded_while_lexing():
    _exceeds("ksqlite.limits.statement.tokens", "SELECT a, b, c, d, e FROM s;", Limits(statement_tokens=8))
    items = ", ".join(["1"] * 13_000)       # 26k tokens, each item under the list limit
    _exceeds("ksqlite.limits.statement.tokens", f"SELECT * FROM s WHERE x IN ({items});")


@pytest.mark.parametrize("expression", [
    " + ".join(["1"] * 1000),                       # the chain that raised RecursionError
    "NOT " * 5000 + "TRUE",
    "ABS(" * 3000 + "1" + ")" * 3000,
    "CASE WHEN TRUE THEN " * 2000 + "1" + " ELSE 0 END" * 2000,
    "x" + "[1]" * 2000,
    "s" + "->f" * 2000,
])
def test_deep_expressions_fail_on_the_depth_limit_not_the_stack(expression):
    _exceeds("ksqlite.limits.expression.depth", f"SELECT {expression} FROM s;")


def test_expressions_at_the_depth_limit_parse():
    depth = DEFAULT_LIMITS.expression_depth
    statement = parse_statement(f"SELECT {' + '.join(['1'] * depth)} AS y FROM s;")
    assert isinstance(statement, ast.QueryStatement)
    assert isinstance(parse_expression("ABS(" * depth + "1" + ")" * depth), ast.FunctionCall)


def test_parentheses_do_not_nest_the_tree():
    """`((((1))))` is one literal: any number of parentheses parse (the LALR stack is a list)."""
    assert parse_expression("(" * 12_000 + "1" + ")" * 12_000) == ast.IntegerLiteral(1)


OVER = DEFAULT_LIMITS.type_depth + 1


@pytest.mark.parametrize("text", [
    "CREATE STREAM s (a " + "ARRAY<" * OVER + "INT" + ">" * OVER + ") WITH (kafka_topic='t', value_format='JSON');",
    "SELECT " + "ARRAY[" * OVER + "1" + "]" * OVER + " FROM s;",
    "SELECT " + "STRUCT(a := " * OVER + "1" + ")" * OVER + " FROM s;",
    "CREATE TYPE t AS " + "STRUCT<a " * OVER + "INT" + ">" * OVER + ";",
    "CREATE STREAM s (m " + "MAP<STRING, " * (OVER // 2 + 1) + "INT" + ">" * (OVER // 2 + 1) + ") WITH (kafka_topic='t');",
])
def test_types_nest_at_most_the_type_depth(text):
    _exceeds("ksqlite.limits.type.depth", text)


def test_types_at_the_type_depth_parse_and_a_map_counts_twice():
    depth = DEFAULT_LIMITS.type_depth
    assert parse_type("ARRAY<" * depth + "INT" + ">" * depth).base == "ARRAY"
    assert parse_type("MAP<STRING, " * (depth // 2) + "INT" + ">" * (depth // 2)).base == "MAP"
    assert type_depth(parse_type("STRUCT<A MAP<STRING, ARRAY<INT>>, B INT>")) == 4


@pytest.mark.parametrize("template", [
    "SELECT * FROM s WHERE x IN ({});", "SELECT ARRAY[{}] FROM s;", "SELECT COALESCE({}) FROM s;",
    "INSERT INTO s VALUES ({});",
])
def test_expression_lists_are_bounded(template):
    _exceeds("ksqlite.limits.expression.list.items", template.format(", ".join(["1"] * 11)),
             Limits(list_items=10))
    parse_statement(template.format(", ".join(["1"] * 10)), limits=Limits(list_items=10))


def test_limits_come_from_properties_and_reject_nonsense():
    limits = Limits.from_properties({"ksqlite.limits.expression.depth": "10", "other": "x",
                                     "ksqlite.limits.statement.tokens": 99})
    assert (limits.expression_depth, limits.statement_tokens) == (10, 99)
    assert limits.statement_chars == DEFAULT_LIMITS.statement_chars
    for bad in ("0", "-1", "ten", True, "1" * 30):
        with pytest.raises(ValueError, match="ksqlite.limits.type.depth"):
            Limits.from_properties({"ksqlite.limits.type.depth": bad})


def test_variable_substitution_stops_at_the_statement_length():
    """Many references to a long value must not build the whole text first."""
    with pytest.raises(LimitExceeded, match="statement.chars"):
        substitute_variables("${v}" * 10_000, {"v": "x" * 1_000_000}, Limits(statement_chars=2_000_000))
    assert substitute_variables("a ${V} ${w}", {"v": 1}) == "a 1 ${w}"


def test_scripts_apply_the_limits_per_statement():
    with pytest.raises(LimitExceeded):
        parse("SELECT 1 FROM s; SELECT " + " + ".join(["1"] * 100) + " FROM s;")


@pytest.mark.parametrize("literal", ["1" * 5000, "9223372036854775808"])
def test_huge_integer_literals_are_parse_errors(literal):
    with pytest.raises(ParseError, match="Invalid numeric literal"):
        parse_expression(literal)


def test_leading_zeros_do_not_count_against_a_literal():
    assert parse_expression("-00009223372036854775807") == ast.IntegerLiteral(-9223372036854775807)
    assert parse_expression("0" * 5000 + "7") == ast.IntegerLiteral(7)


@pytest.mark.parametrize("text", ["SELECT * FROM s LIMIT 99999999999;", "SELECT * FROM s LIMIT " + "9" * 5000 + ";",
                                  "PRINT 't' INTERVAL " + "9" * 5000 + ";",
                                  "SELECT * FROM s WINDOW TUMBLING (SIZE " + "9" * 5000 + " SECONDS) EMIT CHANGES;",
                                  "CREATE STREAM s (a DECIMAL(" + "9" * 5000 + ", 2)) WITH (kafka_topic='t');"])
def test_numbers_too_big_for_their_place_are_parse_errors(text):
    with pytest.raises(ParseError):
        parse_statement(text)


def test_hostile_comments_and_quotes_are_scanned_in_linear_time():
    """Each of these took quadratic (or exponential) time in a regular expression or a loop; at
    these sizes that would be hours."""
    unclosed = "/*a" * 200_000
    assert split_statements("SELECT 1 FROM s; " + unclosed) == ["SELECT 1 FROM s"]
    assert code_start(unclosed) == len(unclosed)
    assert len(split_statements("SELECT 'a;b' FROM s; -- x;\n/* ; */ SELECT 1 FROM t;" * 20_000)) == 40_000
    assert leading_word("/**/" * 50_000 + " x") == "X"
    assert leading_word("-- c\n/* SELECT */  select * from s") == "SELECT"
    assert split_statements("SELECT 'it''s;' FROM `a``;b`; SELECT \"q\"\";\" FROM t") == \
        ["SELECT 'it''s;' FROM `a``;b`", "SELECT \"q\"\";\" FROM t"]


def test_error_positions_in_a_script_stay_right():
    with pytest.raises(ParseError) as caught:
        parse("SELECT 1 FROM a;\n\n  SELECT x FROM;")
    assert (caught.value.line, caught.value.column) == (3, 16)


@pytest.mark.parametrize("column_type", ["ARRAY", "MAP", "STRUCT", "`ARRAY`"])
def test_a_container_type_without_element_types_is_a_parse_error(column_type):
    """Found by the fuzz suite: `a ARRAY` parsed as a named type with no element (a crash later)."""
    with pytest.raises(ParseError, match="needs its element types"):
        parse_statement(f"CREATE STREAM s (a {column_type}) WITH (kafka_topic='t', value_format='JSON');")
