"""CREATE ... AS SELECT printed as ksqlDB's SqlFormatter prints the sanitized statement it
quotes in execution errors (`Statement: ...`)."""
from pyksqlite.grammar import ast
from pyksqlite.grammar.parser import parse_statement
from pyksqlite.grammar.statement_text import format_create_as_select


def _text(sql: str, names) -> str:
    return format_create_as_select(parse_statement(sql), names)


def test_one_select_item_per_line_then_a_line_per_clause():
    text = _text("CREATE TABLE OUTPUT WITH (KEY_FORMAT='KAFKA') AS SELECT TEST.F1, (TEST.F2 + TEST.F1), "
                 "COUNT(*) FROM TEST TEST WHERE TEST.F1 > 0 GROUP BY TEST.F1, TEST.F2 HAVING COUNT(*) > 1;",
                 ["F1", "KSQL_COL_0", "TOTAL"])
    assert text == ("CREATE TABLE OUTPUT WITH (KEY_FORMAT='KAFKA') AS SELECT\n"
                    "  TEST.F1 F1,\n"
                    "  (TEST.F2 + TEST.F1) KSQL_COL_0,\n"
                    "  COUNT(*) TOTAL\n"
                    "FROM TEST TEST\n"
                    "WHERE (TEST.F1 > 0)\n"
                    "GROUP BY TEST.F1, TEST.F2\n"
                    "HAVING (COUNT(*) > 1)\n"
                    "EMIT CHANGES")


def test_a_single_item_stays_on_the_select_line():
    assert _text("CREATE STREAM O AS SELECT * FROM S PARTITION BY S.A;", [None]) == (
        "CREATE STREAM O AS SELECT *\nFROM S S\nPARTITION BY S.A\nEMIT CHANGES")


def test_sanitizing_qualifies_columns_and_names_every_item(tmp_path):
    from pyksqlite.facade.engine import Engine
    from pyksqlite.planner.sanitize import sanitized_text
    engine = Engine(tmp_path / "data")
    try:
        engine.execute("CREATE STREAM TEST (F1 INT KEY, F2 INT) WITH (kafka_topic='t', format='JSON', "
                       "partitions=1);")
        stmt = parse_statement("CREATE TABLE OUTPUT AS SELECT f2, f1, f2+f1, COUNT(*) FROM TEST "
                               "GROUP BY f1, f2;")
        assert isinstance(stmt, ast.CreateAsSelect)
        assert sanitized_text(engine.catalog, stmt) == (
            "CREATE TABLE OUTPUT AS SELECT\n  TEST.F2 F2,\n  TEST.F1 F1,\n  (TEST.F2 + TEST.F1) KSQL_COL_0,\n"
            "  COUNT(*) KSQL_COL_1\nFROM TEST TEST\nGROUP BY TEST.F1, TEST.F2\nEMIT CHANGES")
    finally:
        engine.close()
