"""Table-driven: statement text in, expected AST (or its key parts) out."""
import pytest

from pyksqlite.grammar import ast
from pyksqlite.grammar.parser import parse_statement

col = ast.ColumnRef
lit = ast.IntegerLiteral

STATEMENTS = [
    ("CREATE STREAM s (id INT KEY, v STRING) WITH (kafka_topic='t', partitions=2, wrap=true);",
     ast.CreateSource("STREAM", "S", (ast.ColumnDef("ID", ast.INTEGER, "KEY"),
                                      ast.ColumnDef("V", ast.STRING)),
                      (("KAFKA_TOPIC", "t"), ("PARTITIONS", 2), ("WRAP", True)))),
    ("create or replace source table if not exists `t` (k VARCHAR PRIMARY KEY, h BYTES HEADER('x'), "
     "hs ARRAY<STRUCT<key STRING, value BYTES>> HEADERS) with (kafka_topic='t')",
     ast.CreateSource("TABLE", "t", (
         ast.ColumnDef("K", ast.STRING, "PRIMARY KEY"),
         ast.ColumnDef("H", ast.BYTES, "HEADER", "x"),
         ast.ColumnDef("HS", ast.array(ast.struct([("KEY", ast.STRING), ("VALUE", ast.BYTES)])),
                       "HEADERS")),
         (("KAFKA_TOPIC", "t"),), or_replace=True, if_not_exists=True, is_source=True)),
    ("CREATE STREAM s WITH (kafka_topic='t', value_format='AVRO')",
     ast.CreateSource("STREAM", "S", (), (("KAFKA_TOPIC", "t"), ("VALUE_FORMAT", "AVRO")))),
    ("INSERT INTO x (a, `b`) VALUES (1, 'it''s')",
     ast.InsertValues("X", ("A", "b"), (lit(1), ast.StringLiteral("it's")))),
    ("DROP TABLE IF EXISTS t DELETE TOPIC", ast.DropSource("TABLE", "T", True, True)),
    ("CREATE TYPE addr AS STRUCT<num INT, d DECIMAL(4, 2)>",
     ast.CreateType("ADDR", ast.struct([("NUM", ast.INTEGER), ("D", ast.decimal(4, 2))]))),
    ("DROP TYPE addr", ast.DropType("ADDR")),
    ("ALTER STREAM s ADD COLUMN c INT, ADD d MAP<STRING, BIGINT>",
     ast.AlterSource("STREAM", "S", (ast.ColumnDef("C", ast.INTEGER),
                                     ast.ColumnDef("D", ast.map_of(ast.STRING, ast.BIGINT))))),
    ("SHOW ALL TOPICS EXTENDED", ast.Show("TOPICS", True, True)),
    ("list queries", ast.Show("QUERIES")),
    ("DESCRIBE s EXTENDED", ast.Describe("S", True)),
    ("DESCRIBE TABLES", ast.Describe(None, False, "TABLES")),
    ("DESCRIBE FUNCTION substring", ast.DescribeFunction("SUBSTRING")),
    ("EXPLAIN CSAS_OUT_1", ast.Explain(query_id="CSAS_OUT_1")),
    ("TERMINATE ALL", ast.Terminate(None)),
    ("TERMINATE ctas_x_3", ast.Terminate("CTAS_X_3")),
    ("RESUME ALL", ast.PauseResume("RESUME", None)),
    ("PRINT 'MyTopic' FROM BEGINNING INTERVAL 2 LIMIT 10", ast.Print("MyTopic", True, 2, 10)),
    ("PRINT myTopic", ast.Print("myTopic")),
    ("SET 'auto.offset.reset'='earliest'", ast.SetProperty("auto.offset.reset", "earliest")),
    ("UNSET 'auto.offset.reset'", ast.UnsetProperty("auto.offset.reset")),
    ("DEFINE topic = 'x'", ast.DefineVariable("TOPIC", "x")),
    ("UNDEFINE topic", ast.UndefineVariable("TOPIC")),
    ("RUN SCRIPT '/tmp/a.sql'", ast.RunScript("/tmp/a.sql")),
    ("ASSERT VALUES out (k, v) VALUES (1, NULL)",
     ast.AssertValues("OUT", ("K", "V"), (lit(1), ast.NullLiteral()))),
    ("ASSERT NULL VALUES out (k) KEY (1)", ast.AssertNullValues("OUT", ("K",), (lit(1),))),
    ("ASSERT TABLE t (k INT PRIMARY KEY) WITH (kafka_topic='t')",
     ast.AssertSource("TABLE", "T", (ast.ColumnDef("K", ast.INTEGER, "PRIMARY KEY"),),
                      (("KAFKA_TOPIC", "t"),))),
    ("ASSERT NOT EXISTS TOPIC 'x' TIMEOUT 5 SECONDS",
     ast.AssertTopic("x", False, (), ast.Duration(5, "SECOND"))),
]


@pytest.mark.parametrize("text, expected", STATEMENTS, ids=[s[0][:40] for s in STATEMENTS])
def test_statement_builds_expected_ast(text, expected):
    assert parse_statement(text) == expected


def test_text_excludes_terminator():
    assert parse_statement("  SHOW STREAMS ;  ").text == "SHOW STREAMS"


def test_create_as_select_and_query_clauses():
    statement = parse_statement(
        "CREATE TABLE out WITH (partitions=1) AS SELECT s1.k, COUNT(*) AS c FROM s s1 "
        "LEFT OUTER JOIN t AS x WITHIN (1 SECOND, 2 MINUTES) GRACE PERIOD 3 HOURS ON s1.k = x.k "
        "WINDOW TUMBLING (SIZE 10 SECONDS, RETENTION 1 DAY, GRACE PERIOD 1 MINUTE) "
        "WHERE s1.v > 0 GROUP BY s1.k HAVING COUNT(*) > 1 EMIT FINAL")
    assert isinstance(statement, ast.CreateAsSelect) and statement.props() == {"PARTITIONS": 1}
    query = statement.query
    assert query.from_ == ast.SourceRef("S", "S1")
    assert query.joins == (ast.JoinClause(
        "LEFT", ast.SourceRef("T", "X"), ast.Comparison("=", col("K", "S1"), col("K", "X")),
        ast.WithinSpec(ast.Duration(1, "SECOND"), ast.Duration(2, "MINUTE"),
                       ast.Duration(3, "HOUR"))),)
    assert query.window == ast.WindowSpec("TUMBLING", size=ast.Duration(10, "SECOND"),
                                          retention=ast.Duration(1, "DAY"),
                                          grace=ast.Duration(1, "MINUTE"))
    assert query.group_by == (col("K", "S1"),)
    assert query.emit == "FINAL"
    assert query.select[1] == ast.SelectExpr(ast.FunctionCall("COUNT", star=True), "C")


def test_pull_query_with_limit_and_partition_by():
    query = parse_statement("SELECT * FROM s PARTITION BY (a, b) LIMIT 5").query
    assert query.partition_by == (col("A"), col("B")) and query.limit == 5 and query.emit is None


@pytest.mark.parametrize("window, expected", [
    ("HOPPING (SIZE 1 HOUR, ADVANCE BY 5 MINUTES)",
     ast.WindowSpec("HOPPING", size=ast.Duration(1, "HOUR"), advance=ast.Duration(5, "MINUTE"))),
    ("SESSION (30 SECONDS, GRACE PERIOD 0 MILLISECONDS)",
     ast.WindowSpec("SESSION", gap=ast.Duration(30, "SECOND"),
                    grace=ast.Duration(0, "MILLISECOND"))),
])
def test_windows(window, expected):
    assert parse_statement(f"SELECT k FROM s WINDOW {window} GROUP BY k EMIT CHANGES"
                           ).query.window == expected


def test_select_items():
    query = parse_statement("SELECT *, s.*, st->*, a x, b AS `y` FROM s").query
    assert query.select == (ast.SelectAll(), ast.SelectAll("S"), ast.SelectStructAll(col("ST")),
                            ast.SelectExpr(col("A"), "X"), ast.SelectExpr(col("B"), "y"))


def test_keywords_usable_as_identifiers():
    query = parse_statement("SELECT key, value, size, timestamp, date, type FROM topic").query
    names = [item.expr.name for item in query.select]
    assert names == ["KEY", "VALUE", "SIZE", "TIMESTAMP", "DATE", "TYPE"]
    assert query.from_.name == "TOPIC"


def test_explain_statement_keeps_inner_text():
    explained = parse_statement("EXPLAIN SELECT * FROM s;")
    assert explained.statement.text == "SELECT * FROM s"
    assert isinstance(explained.statement, ast.QueryStatement)
