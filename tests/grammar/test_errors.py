"""Syntax errors: position, offending token, expected tokens and ksqlDB's wording."""
import pytest

from pyksqlite.grammar.errors import ParseError
from pyksqlite.grammar.parser import parse, parse_statement

ERRORS = [
    # text, line, column, token, a token that must be expected (or None), message fragment
    ("CREATE STREAM INPUT (K STRING (KEY)) WITH (kafka_topic='input');", 1, 32, "KEY", None,
     "line 1:32: Syntax Error\nExpecting {'STRING', INTEGER_VALUE}\nStatement: CREATE STREAM"),
    ("SELECT FROM t", 1, 8, "FROM", "IDENTIFIER", "Syntax error at or near 'FROM' at line 1:8"),
    ("SELECT * FROM t LIMIT x", 1, 23, "x", "INTEGER_VALUE", "Expecting {'-', DECIMAL_VALUE, INTEGER_VALUE}"),
    ("SELECT a FROM t WINDOW SESSION", 1, 31, "<EOF>", "'('", "line 1:31: Syntax Error"),
    ("FOO bar", 1, 1, "FOO", "'SELECT'", "line 1:1: Syntax Error\nUnknown statement 'FOO'"),
    ("SELECT *\nFROM t\nWHERE IN", 3, 7, "IN", None, "at line 3:7"),
    ("SELECT * FROM s WHERE a IN ()", 1, 29, ")", None, "Syntax Error"),
    ("SELECT cast(x AS NULL) FROM s", 1, 18, "NULL", None, "Syntax error at or near 'NULL'"),
    ("SELECT COUNT(*) FROM s GROUP BY a AND b", 1, 35, "AND", None, "Syntax Error"),
]


@pytest.mark.parametrize("text, line, column, token, expected, fragment", ERRORS,
                         ids=[e[0][:40] for e in ERRORS])
def test_syntax_error(text, line, column, token, expected, fragment):
    with pytest.raises(ParseError) as caught:
        parse_statement(text)
    error = caught.value
    assert (error.line, error.column, error.token) == (line, column, token)
    assert expected is None or expected in error.expected
    assert fragment in error.message


@pytest.mark.parametrize("text, message", [
    ("CREATE TABLE INPUT (ID INT KEY, NAME STRING) WITH (kafka_topic='input');",
     "Line: 1, Col: 21: Column `ID` is a 'KEY' column: please use 'PRIMARY KEY' for tables."),
    ("CREATE STREAM INPUT (ID INT PRIMARY KEY) WITH (kafka_topic='input');",
     "Line: 1, Col: 22: Column `ID` is a 'PRIMARY KEY' column: please use 'KEY' for streams."),
    ("SELECT -9223372036854775809 FROM s", "Invalid numeric literal: -9223372036854775809"),
    ("SELECT -1.7976931348623160E308 FROM s", "Number overflows DOUBLE: -1.7976931348623160E308"),
    ("CREATE TABLE t (k STRING PRIMARY KEY) WITH (window_type='Session', window_size='1 second')",
     "'WINDOW_SIZE' should not be set for SESSION windows."),
])
def test_syntactic_rules_of_the_ast_builder(text, message):
    with pytest.raises(ParseError, match=None) as caught:
        parse_statement(text)
    assert message in caught.value.message


def test_script_errors_are_positioned_in_the_script():
    script = "CREATE STREAM s (id INT) WITH (kafka_topic='t');\nSELECT cast(f0 as NULL) FROM s;"
    with pytest.raises(ParseError) as caught:
        parse(script)
    assert (caught.value.line, caught.value.column) == (2, 19)
    assert "at line 2:19\nStatement: SELECT cast(f0 as NULL) FROM s;" in caught.value.message


@pytest.mark.parametrize("text, message", [
    ("RUN SCRIPT 'foo';", "line 1:1: Syntax Error\nUnknown statement 'RUN'"),
    ("ASSERT VALUES foo (id INT) VALUES (123);", "Syntax error at or near 'VALUES' at line 1:8"),
])
def test_client_statements_rejected_in_server_mode(text, message):
    with pytest.raises(ParseError) as caught:
        parse(text, client_statements=False)
    assert message in caught.value.message
