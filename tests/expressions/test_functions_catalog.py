"""Table-driven tests of the built-in function families (values taken from ksqlDB's QTT cases):
expression text -> values over the fixture batch (conftest.BATCH) and the ksqlDB result type."""
import datetime
from decimal import Decimal

import pytest

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.grammar.ast import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME, TIMESTAMP,
                         array, decimal, map_of)

NAN = float("nan")


def same(value):
    return [value] * 3


MATH = [
    ("LN(I)", [1.9459101490553132, NAN, None], DOUBLE),
    ("LOG(100)", same(4.605170185988092), DOUBLE),   # natural log, as ksqlDB (math.json log-base-10)
    ("LOG(15, 13)", same(0.9471572411831843), DOUBLE),
    ("LOG(1, 13)", same(NAN), DOUBLE),
    ("POWER(15, -1)", same(0.06666666666666667), DOUBLE),
    ("CBRT(-8)", same(-2.0), DOUBLE),
    ("ROUND(ATAN2(2, 3), 13)", same(0.5880026035476), DOUBLE),
    ("ROUND(COSH(6), 13)", same(201.7156361224559), DOUBLE),
    ("COT(0)", same(float("inf")), DOUBLE),
    ("PI()", same(3.141592653589793), DOUBLE),
    ("SIGN(I)", [1, -1, None], INTEGER),
    ("ROUND(-1.5E0)", same(-1), BIGINT),
    ("ROUND(-1.5E0, 0)", same(-1.0), DOUBLE),
    ("ROUND(12345.678E0, -1)", same(12350.0), DOUBLE),
    ("ROUND(-1.1E0, -1)", same(0.0), DOUBLE),
    ("ROUND(1.005E0, 2)", same(1.01), DOUBLE),
    ("ROUND(DEC, 1)", [Decimal("10.10"), Decimal("-1.00"), None], decimal(5, 2)),
    ("ROUND(DEC)", [Decimal("10"), Decimal("-1"), None], decimal(3, 0)),
    ("TRUNC(D)", [1, -2, None], BIGINT),
    ("TRUNC(12345.678E0, 2)", same(12345.67), DOUBLE),
    ("TRUNC(DEC, 1)", [Decimal("10.10"), Decimal("-1.00"), None], decimal(5, 2)),
    ("GREATEST(I, 5, NULL)", [7, 5, 5], INTEGER),
    ("LEAST(S, 'Hi')", ["Hi", "Hi", "Hi"], STRING),
    ("GREATEST(TS, '2022-06-14')", [datetime.datetime(2022, 6, 14)] * 3, TIMESTAMP),
    ("ROUND(GEO_DISTANCE(37.4439, -122.1663, 51.5257, -0.1122, 'MI'), 6)", same(5365.659729), DOUBLE),
]

STRINGS = [
    ("CHR(75)", same("K"), STRING),
    ("CHR(-1)", same(None), STRING),
    ("CHR('\\u597d')", same("\u597d"), STRING),
    ("CHR('\\ud820\\udeb8')", same(chr(99000)), STRING),
    ("CHR('75')", same(None), STRING),
    ("INITCAP('the   Quick br0wn fOx')", same("The   Quick Br0wn Fox"), STRING),
    ("INSTR('corporate floor', 'or', 4, 2)", same(14), INTEGER),
    ("INSTR('should I stay or should I go', 'or')", same(15), INTEGER),
    ("INSTR('corporate floor', 'or', -3)", same(5), INTEGER),
    ("INSTR('no substring', 'or')", same(0), INTEGER),
    ("LPAD('foo', 7, 'Bar')", same("BarBfoo"), STRING),
    ("RPAD('foo', 2, 'Bar')", same("fo"), STRING),
    ("RPAD('foo', 7, '')", same(None), STRING),
    ("LPAD(S, -1, 'x')", same(None), STRING),
    ("TO_BYTES('yes', 'utf8')", same(b"yes"), BYTES),
    ("LPAD(TO_BYTES('yes', 'utf8'), 8, TO_BYTES('no', 'utf8'))", same(b"nononyes"), BYTES),
    ("MASK('AbC-12')", same("XxX-nn"), STRING),
    ("MASK_LEFT('AbC-12', 2)", same("XxC-12"), STRING),
    ("MASK_KEEP_RIGHT('AbC-12', 2, '*', '*', NULL, NULL)", same("***-12"), STRING),
    ("MD5('r1')", same("7c92cf1eee8d99cc85f8355a3d6e4b86"), STRING),
    ("REGEXP_EXTRACT('test.', 'anothertest')", same(None), STRING),
    ("REGEXP_EXTRACT('(.*) (.*)', 'steven zhang', 2)", same("zhang"), STRING),
    ("REGEXP_EXTRACT_ALL('(\\w+) (\\w*)', 'apurva mehta agavra ', 2)", same(["mehta", ""]), array(STRING)),
    ("REGEXP_REPLACE('baabbabaa', '(ab)+', 'cat')", same("bacatbcataa"), STRING),
    ("REGEXP_REPLACE('ab', '(a)(b)', '$2$1')", same("ba"), STRING),
    ("REGEXP_SPLIT_TO_ARRAY('aabcda', '(ab|cd)')", same(["a", "", "a"]), array(STRING)),
    ("SPLIT('..a..', '.')", same(["", "", "a", "", ""]), array(STRING)),
    ("SPLIT(TO_BYTES('a$$b.c', 'utf8'), TO_BYTES('$$', 'utf8'))", same([b"a", b"b.c"]), array(BYTES)),
    ("SPLIT_TO_MAP('a=1,b=2', ',', '=')", same([("a", "1"), ("b", "2")]), map_of(STRING, STRING)),
    ("SUBSTRING(S, 2, 3)", ["ell", "orl", None], STRING),
    ("SUBSTRING('some string', 0, 2)", same("so"), STRING),
    ("SUBSTRING('some_string', -3)", same("ing"), STRING),
    ("SUBSTRING(S, NULL)", same(None), STRING),
    ("SUBSTRING(TO_BYTES('some_string', 'utf8'), 6, 3)", same(b"str"), BYTES),
    ("TRIM(' \twith white space \t')", same("with white space"), STRING),
    ("CONCAT_WS(S, 'a', NULL, 'b')", ["ahellob", "aWorldb", None], STRING),
    ("LEN(TO_BYTES('abc', 'utf8'))", same(3), INTEGER),
    ("ENCODE('4578616d706C6521', 'hex', 'base64')", same("RXhhbXBsZSE="), STRING),
    ("ENCODE('X''4578616d706C6521''', 'hex', 'utf8')", same("Example!"), STRING),
    ("ENCODE('0x0x', 'hex', 'utf8')", same(None), STRING),
    ("ENCODE('\u0395\u03bb', 'ascii', 'hex')", same("3f3f"), STRING),
    ("ENCODE('zpU=', 'base64', 'ascii')", same("\ufffd\ufffd"), STRING),
    ("FROM_BYTES(TO_BYTES('1aB2', 'hex'), 'hex')", same("1AB2"), STRING),
    ("INT_FROM_BYTES(TO_BYTES('AAAE0g==', 'base64'))", same(1234), INTEGER),
    ("INT_FROM_BYTES(TO_BYTES('0gQAAA==', 'base64'), 'LITTLE_ENDIAN')", same(1234), INTEGER),
    ("BIGINT_FROM_BYTES(TO_BYTES('ffffffffffffffff', 'hex'))", same(-1), BIGINT),
    ("DOUBLE_FROM_BYTES(TO_BYTES('3ff8000000000000', 'hex'))", same(1.5), DOUBLE),
]

COLLECTIONS = [
    ("ARRAY_DISTINCT(ARRAY[1, NULL, 1, 3, NULL])", same([1, None, 3]), array(INTEGER)),
    ("ARRAY_EXCEPT(ARRAY['foo', 'bar', 'foo'], ARRAY['bar', 'baz'])", same(["foo"]), array(STRING)),
    ("ARRAY_INTERSECT(ARRAY['foo', 'bar', 'foo'], ARRAY['foo', 'baz'])", same(["foo"]), array(STRING)),
    ("ARRAY_UNION(ARRAY['foo', 'bar', 'foo'], ARRAY['foo', 'baz'])", same(["foo", "bar", "baz"]), array(STRING)),
    ("ARRAY_CONCAT(ARR, ARRAY[9])", [[1, 2, 3, 9], [9], [9]], array(INTEGER)),
    ("ARRAY_REMOVE(ARRAY['foo', 'bar', 'foo'], 'foo')", same(["bar"]), array(STRING)),
    ("ARRAY_SORT(ARRAY[3, NULL, 1], 'desc')", same([3, 1, None]), array(INTEGER)),
    ("ARRAY_SORT(ARR)", [[1, 2, 3], [], None], array(INTEGER)),
    ("ARRAY_MAX(ARR)", [3, None, None], INTEGER),
    ("ARRAY_MIN(ARRAY['foo', 'bar'])", same("bar"), STRING),
    ("ARRAY_JOIN(ARRAY[TRUE, NULL, FALSE])", same("true,null,false"), STRING),
    ("ARRAY_JOIN(ARRAY[1.23E0, 0.0E0], ' ')", same("1.23 0.0"), STRING),
    ("SLICE(ARRAY['a', 'b', 'c', 'd'], 2, 3)", same(["b", "c"]), array(STRING)),
    ("ELT(2, 'ignored', S)", ["hello", "World", None], STRING),
    ("FIELD('hello', 'x', S)", [2, 0, 0], INTEGER),
    ("AS_MAP(ARRAY['a', 'b'], ARRAY[1, 2])", same([("a", 1), ("b", 2)]), map_of(STRING, INTEGER)),
    ("MAP_KEYS(M)", [["a"], ["b"], None], array(STRING)),
    ("MAP_VALUES(M)", [[1], [2], None], array(INTEGER)),
    ("MAP_UNION(M, MAP('a' := 9))", [[("a", 9)], [("b", 2), ("a", 9)], [("a", 9)]], map_of(STRING, INTEGER)),
    ("TRANSFORM(M, (k, v) => UCASE(k), (k, v) => v * 10)", [[("A", 10)], [("B", 20)], None], map_of(STRING, INTEGER)),
    ("FILTER(M, (k, v) => v > 1)", [[], [("b", 2)], None], map_of(STRING, INTEGER)),
    ("REDUCE(M, 0, (s, k, v) => s + v)", [1, 2, 0], INTEGER),
    ("REDUCE(ARR, 10, (s, x) => s + x)", [16, 10, 10], INTEGER),
]

JSON = [
    ("EXTRACTJSONFIELD('{\"a\": [1, 2], \"@type\": \"U\"}', '$.a[1]')", same("2"), STRING),
    ("EXTRACTJSONFIELD('{\"@type\": \"U\"}', '$.@type')", same("U"), STRING),
    ("EXTRACTJSONFIELD('{\"a\": [1]}', '$.a[-1]')", same(None), STRING),
    ("EXTRACTJSONFIELD('not json', '$.a')", same(None), STRING),
    ("IS_JSON_STRING(S)", same(False), BOOLEAN),
    ("IS_JSON_STRING('[1, 2, 3]')", same(True), BOOLEAN),
    ("JSON_ARRAY_CONTAINS('[\"Pink\", null]', 'Pink')", same(True), BOOLEAN),
    ("JSON_ARRAY_CONTAINS('[1, 2]', 3)", same(False), BOOLEAN),
    ("JSON_ARRAY_LENGTH('[1, 2]')", same(2), INTEGER),
    ("JSON_KEYS('{\"a\": 1, \"b\": 2}')", same(["a", "b"]), array(STRING)),
    ("JSON_CONCAT('{\"a\": {\"5\": 6}}', '{\"a\": {\"3\": 4}}')", same('{"a":{"3":4}}'), STRING),
    ("JSON_CONCAT('[1, 2]', '{\"a\": 1}', '4')", same('[1,2,{"a":1},4]'), STRING),
    ("JSON_CONCAT('1', '')", same(None), STRING),
    ("JSON_ITEMS('[{\"type\": \"A\"}, 2]')", same(['{"type":"A"}', "2"]), array(STRING)),
    ("JSON_RECORDS('{\"Red\": 3}')", same([("Red", "3")]), map_of(STRING, STRING)),
    ("TO_JSON_STRING(ST)", ['{"F0":1,"NAME":"x"}', "null", '{"F0":null,"NAME":"z"}'], STRING),
    ("TO_JSON_STRING(TS)", ['"1970-01-01T00:00:01.000"', '"2022-04-28T21:44:47.943"', "null"], STRING),
    ("TO_JSON_STRING(M)", ['{"a":1}', '{"b":2}', "null"], STRING),
]

URLS = [
    ("URL_ENCODE_PARAM('?foo $bar')", same("%3Ffoo+%24bar"), STRING),
    ("URL_DECODE_PARAM('%3Ffoo+%24bar')", same("?foo $bar"), STRING),
    ("URL_EXTRACT_HOST('http://test@confluent.io:8080')", same("confluent.io"), STRING),
    ("URL_EXTRACT_PORT('http://test@confluent.io')", same(None), INTEGER),
    ("URL_EXTRACT_PORT('http://test@confluent.io:8080/nested/path?query&jobs')", same(8080), INTEGER),
    ("URL_EXTRACT_PROTOCOL('www.confluent.io')", same(None), STRING),
    ("URL_EXTRACT_QUERY('http://www.test.com/path?q1&q2')", same("q1&q2"), STRING),
    ("URL_EXTRACT_FRAGMENT('http://www.test.com/?query#fragment')", same("fragment"), STRING),
    ("URL_EXTRACT_PATH('http://a.com/x%20y/z?q')", same("/x y/z"), STRING),
    ("URL_EXTRACT_PARAMETER('http://www.test.com/?one=a&two=b&three', 'two')", same("b"), STRING),
]

DATETIME = [
    ("FORMAT_TIMESTAMP(TS, 'yyyy-MM-dd HH:mm:ss')", ["1970-01-01 00:00:01", "2022-04-28 21:44:47", None], STRING),
    ("TIMESTAMPTOSTRING(1526075913000, 'yyyy-MM-dd HH:mm:ss', 'America/Los_Angeles')", same("2018-05-11 14:58:33"), STRING),
    ("STRINGTOTIMESTAMP('2018-05-11T21:58:33', 'yyyy-MM-dd''T''HH:mm:ss')", same(1526075913000), BIGINT),
    ("PARSE_TIMESTAMP('2018-05-11T14:58:33', 'yyyy-MM-dd''T''HH:mm:ss', 'America/Los_Angeles')",
     same(datetime.datetime(2018, 5, 11, 21, 58, 33)), TIMESTAMP),
    ("STRINGTODATE('01-JAN-2022', 'dd-MMM-yyyy')", same(18993), INTEGER),
    ("DATETOSTRING(-1, 'dd-MM-yyyy''Sophia''')", same("31-12-1969Sophia"), STRING),
    ("DATETOSTRING(18027, SUBSTRING(S, 99) || 'dd/MM/yyyy')", same("11/05/2019"), STRING),
    ("PARSE_DATE('2018-05-11Lit', 'yyyy-MM-dd''Lit''')", same(datetime.date(2018, 5, 11)), DATE),
    ("PARSE_TIME('01:00:00 PM', 'hh:mm:ss a')", same(datetime.time(13, 0)), TIME),
    ("FORMAT_TIME(PARSE_TIME('00:20:34', 'HH:mm:ss'), 'HHmmss''AAAAA''')", same("002034AAAAA"), STRING),
    ("CONVERT_TZ(FROM_UNIXTIME(100), '+0200', '+0500')", same(datetime.datetime(1970, 1, 1, 3, 0, 0, 100000)), TIMESTAMP),
    ("CONVERT_TZ(FROM_UNIXTIME(1589234313000), 'America/Los_Angeles', 'America/New_York')",
     same(datetime.datetime(2020, 5, 12, 0, 58, 33)), TIMESTAMP),
    ("DATEADD(DAYS, -5, FROM_DAYS(10))", same(datetime.date(1970, 1, 6)), DATE),
    ("TIMESUB(MILLISECONDS, 10, PARSE_TIME('00:00:01', 'HH:mm:ss'))", same(datetime.time(0, 0, 0, 990000)), TIME),
    ("TIMESTAMPADD(MILLISECONDS, 10, TS)", [datetime.datetime(1970, 1, 1, 0, 0, 1, 10000),
                                            datetime.datetime(2022, 4, 28, 21, 44, 47, 953000), None], TIMESTAMP),
    ("UNIX_DATE(FROM_DAYS(19000))", same(19000), INTEGER),
]


def _equal(actual, expected):
    if isinstance(expected, float) and expected != expected:
        return actual != actual
    if isinstance(expected, float) and isinstance(actual, float):
        return actual == pytest.approx(expected, rel=1e-12)
    return actual == expected


@pytest.mark.parametrize("text, values, typ", MATH + STRINGS + COLLECTIONS + JSON + URLS + DATETIME)
def test_function(evaluate, text, values, typ):
    actual, actual_type = evaluate(text)
    assert actual_type == typ
    assert len(actual) == len(values)
    assert all(_equal(a, e) for a, e in zip(actual, values)), actual


ERRORS = [
    ("GREATEST(I, BI)", "Function 'greatest' cannot be resolved due to ambiguous method parameters (INTEGER, BIGINT)."),
    ("LEAST(NULL, NULL)", "Function 'least' cannot be resolved due to ambiguous method parameters (null, null)."),
    ("GREATEST()", "Function 'greatest' does not accept parameters ()."),
    ("GREATEST(S, I)", "Function 'greatest' does not accept parameters (STRING, INTEGER)."),
    ("DATEADD(TS, 5, TS)", "Function 'dateadd' does not accept parameters (TIMESTAMP, INTEGER, TIMESTAMP)."),
]


@pytest.mark.parametrize("text, message", ERRORS)
def test_resolution_errors(evaluate, text, message):
    with pytest.raises(KsqlStatementException) as error:
        evaluate(text)
    assert message in error.value.message
