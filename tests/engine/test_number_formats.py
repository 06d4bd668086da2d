"""A DECIMAL keeps its scale through functions, aggregates and every format; a DOUBLE is
written as Java's Double.toString where ksqlDB writes it as text."""
from __future__ import annotations

from decimal import Decimal

import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException


@pytest.fixture
def engine(tmp_path):
    engine = Engine(tmp_path / "data")
    engine.execute("CREATE STREAM S (ID BIGINT KEY, F DECIMAL(4,2), D DOUBLE) "
                   "WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    yield engine
    engine.close()


def _feed(engine: Engine, *values: dict) -> None:
    engine.produce_test_records([TestRecord("s", 0, value) for value in values])
    engine.run_until_idle()


def _values(engine: Engine, topic: str) -> list:
    return [r.value for r in engine.read_topic_records(topic)]


def _scales(values) -> list:
    return [None if v is None else -v.as_tuple().exponent for v in values]


def test_json_writes_a_decimal_with_its_scale(engine):
    engine.execute("CREATE STREAM O AS SELECT ID, F, F * 2 AS X, ARRAY[F] AS A, "
                   "STRUCT(N := F) AS ST FROM S;")
    _feed(engine, {"F": "5.4"}, {"F": 2})
    rows = _values(engine, "O")
    assert [r["F"] for r in rows] == [Decimal("5.40"), Decimal("2.00")]
    assert _scales([r["F"] for r in rows] + [r["X"] for r in rows]) == [2, 2, 2, 2]
    assert _scales([r["A"][0] for r in rows] + [r["ST"]["N"] for r in rows]) == [2, 2, 2, 2]


def test_functions_and_aggregates_keep_the_scale(engine):
    engine.execute("CREATE STREAM O AS SELECT ID, ABS(F) AS A, CEIL(F) AS C, FLOOR(F) AS FL FROM S;")
    engine.execute("CREATE TABLE T AS SELECT ID, SUM(F) AS SM, MIN(F) AS MN, MAX(F) AS MX, "
                   "LATEST_BY_OFFSET(F) AS L FROM S GROUP BY ID;")
    _feed(engine, {"F": "5.4"}, {"F": "-1"})
    assert _values(engine, "O") == [{"A": Decimal("5.40"), "C": Decimal("6.00"), "FL": Decimal("5.00")},
                                    {"A": Decimal("1.00"), "C": Decimal("-1.00"), "FL": Decimal("-1.00")}]
    last = _values(engine, "T")[-1]
    assert last == {"SM": Decimal("4.40"), "MN": Decimal("-1.00"), "MX": Decimal("5.40"), "L": Decimal("-1.00")}
    assert _scales(last.values()) == [2, 2, 2, 2]


def test_delimited_and_string_casts_write_doubles_as_java(engine):
    engine.execute("CREATE STREAM O WITH (value_format='DELIMITED') AS SELECT ID, F, D, "
                   "CAST(D AS STRING) AS T FROM S;")
    _feed(engine, {"F": 1, "D": 1e7}, {"F": 1, "D": 4.9e-324}, {"F": 1, "D": 0.5})
    assert _values(engine, "O") == ["1.00,1.0E7,1.0E7", "1.00,4.9E-324,4.9E-324", "1.00,0.5,0.5"]


def test_insert_into_takes_a_decimal_that_fits_the_sink(engine):
    engine.execute("CREATE STREAM W (ID BIGINT KEY, F DECIMAL(5,3), D DOUBLE) "
                   "WITH (kafka_topic='w', value_format='JSON', partitions=1);")
    engine.execute("INSERT INTO W SELECT * FROM S;")
    _feed(engine, {"F": "5.4", "D": 1.0})
    assert _values(engine, "w") == [{"F": Decimal("5.400"), "D": 1.0}]


def test_insert_into_rejects_a_decimal_that_does_not_fit(engine):
    engine.execute("CREATE STREAM W (ID BIGINT KEY, F DECIMAL(3,1), D DOUBLE) "
                   "WITH (kafka_topic='w', value_format='JSON', partitions=1);")
    with pytest.raises(KsqlException, match="Incompatible schema between results and sink"):
        engine.execute("INSERT INTO W SELECT * FROM S;")
