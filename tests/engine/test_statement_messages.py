"""ksqlDB's statement errors: located at the node they are about (`Line: l, Col: c: `, lines of
the whole script), worded as ksqlDB words them, and checked in ksqlDB's order."""
from __future__ import annotations

import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.common.errors import KsqlException

SETUP = ("CREATE STREAM S (ID INT KEY, V INT, W STRING) WITH (kafka_topic='s', value_format='JSON', partitions=1);\n"
         "CREATE STREAM S2 (ID INT KEY, V STRING) WITH (kafka_topic='s2', value_format='JSON', partitions=1);\n")


@pytest.fixture
def engine(tmp_path):
    engine = Engine(tmp_path / "data")
    yield engine
    engine.close()


def _error(engine: Engine, statement: str) -> str:
    """The message of running the setup and `statement` as one script (it is on line 3)."""
    with pytest.raises(KsqlException) as info:
        engine.execute(SETUP + statement)
    return info.value.message


@pytest.mark.parametrize("statement, message", [
    # a column the clause cannot resolve: where the reference starts
    ("CREATE STREAM O AS SELECT ID, NOPE FROM S;",
     "Line: 3, Col: 31: SELECT column 'NOPE' cannot be resolved."),
    ("CREATE STREAM O AS SELECT * FROM S WHERE NOPE > 1;",
     "Line: 3, Col: 42: WHERE column 'NOPE' cannot be resolved."),
    ("CREATE STREAM O AS SELECT * FROM S JOIN S2 WITHIN 1 SECOND ON S.ID = S2.NOPE;",
     "Line: 3, Col: 70: JOIN ON column 'S2.NOPE' cannot be resolved."),
    # a name two joined sources have: an error of preparing the statement
    ("CREATE STREAM O AS SELECT S.ID, V FROM S JOIN S2 WITHIN 1 SECOND ON S.ID = S2.ID;",
     "Exception while preparing statement: Line: 3, Col: 33: Column 'V' is ambiguous. "
     "Could be S.V or S2.V."),
    # unknown sources: FROM, and the target of INSERT INTO
    ("CREATE STREAM O AS SELECT * FROM NOPE;", "Line: 3, Col: 34: NOPE does not exist."),
    ("INSERT INTO NOPE SELECT * FROM S;", "Line: 3, Col: 13: Source `NOPE` does not exist."),
    # a WINDOW needs an aggregation
    ("CREATE STREAM O AS SELECT ID, V FROM S WINDOW TUMBLING (SIZE 1 SECOND);",
     "Line: 3, Col: 47: WINDOW clause requires a GROUP BY clause."),
    # the projection's names are checked before the GROUP BY
    ("CREATE TABLE O AS SELECT ID, WINDOWSTART, COUNT(*) FROM S GROUP BY WINDOWSTART;",
     "Reserved column name in select: `WINDOWSTART`. Please remove or alias the column."),
    ("CREATE TABLE O AS SELECT ID, COUNT(*) FROM S WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY ID, WINDOWEND;",
     "Window bounds column WINDOWEND can only be used in the SELECT clause of windowed aggregations"),
    # a join's columns are named `SOURCE_NAME`, and an aggregation's by what they compute
    ("CREATE STREAM O AS SELECT S.ID, S.V FROM S JOIN S2 WITHIN 1 SECOND ON S.ID = S2.ID WHERE S.V > S2.V;",
     "Error in WHERE expression: Cannot compare S_V (INTEGER) to S2_V (STRING) with GREATER_THAN."),
    ("CREATE TABLE O AS SELECT ID, SUM(V) AS T FROM S GROUP BY ID HAVING SUM(V) > 'x';",
     "Error in HAVING expression: Cannot compare SUM(V) (INTEGER) to 'x' (STRING) with GREATER_THAN."),
    # the sink's TIMESTAMP column is checked before the key columns of the projection
    ("CREATE STREAM O WITH (timestamp='nope') AS SELECT V FROM S;",
     "The TIMESTAMP column set in the WITH clause does not exist in the schema: 'NOPE'"),
    # join conditions: one equality
    ("CREATE STREAM O AS SELECT * FROM S JOIN S2 WITHIN 1 SECOND ON S.ID = S2.ID AND S.V = 1;",
     "Invalid join condition: joins on multiple conditions are not yet supported. "
     "Got ((S.ID = S2.ID) AND (S.V = 1))."),
    ("CREATE STREAM O AS SELECT * FROM S JOIN S2 WITHIN 1 SECOND ON S.ID > S2.ID;",
     "Invalid join condition: inequality joins not supported. Got (S.ID > S2.ID)."),
])
def test_statement_error(engine, statement, message):
    assert _error(engine, statement) == message


def test_syntax_errors_count_lines_of_the_script(engine):
    assert "line 3:41" in _error(engine, "CREATE STREAM O AS SELECT ID, CAST(V AS NULL) FROM S;")


def test_insert_values_names_header_columns_it_cannot_write(engine):
    engine.execute("CREATE STREAM H (K STRING KEY, H1 BYTES HEADER('abc'), V BIGINT) "
                   "WITH (kafka_topic='h', value_format='JSON', partitions=1);")
    with pytest.raises(KsqlException, match="^Cannot insert into HEADER columns: H1$"):
        engine.execute("INSERT INTO H VALUES ('abc', null, 44);")


def test_aggregating_a_table_names_the_functions_that_cannot_undo(engine):
    engine.execute("CREATE TABLE T (ID BIGINT PRIMARY KEY, F0 INT, F1 BIGINT) "
                   "WITH (kafka_topic='t', value_format='JSON', partitions=1);")
    with pytest.raises(KsqlException) as info:
        engine.execute("CREATE TABLE O AS SELECT ID, LATEST_BY_OFFSET(F0), MIN(F1), MAX(F1) FROM T GROUP BY ID;")
    assert info.value.message == ("The aggregation functions LATEST_BY_OFFSET, MIN and MAX cannot be "
                                  "applied to a table source, only to a stream source.")
