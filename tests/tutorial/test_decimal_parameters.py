"""ksqlDB rejects a DECIMAL whose parameters make no sense wherever a type is written
(DecimalUtil.validateParameters): precision >= 1, scale >= 0, precision >= scale."""
from __future__ import annotations

import pytest

from pyksqlite.common.errors import KsqlException
from pyksqlite.grammar.ast import decimal_parameter_error

BAD_DECLARATIONS = [
    "CREATE STREAM s (a DECIMAL(2,3)) WITH (kafka_topic='t', value_format='JSON', partitions=1);",
    "CREATE STREAM s (a ARRAY<DECIMAL(2,3)>) WITH (kafka_topic='t', value_format='JSON', partitions=1);",
    "CREATE STREAM s (a STRUCT<f DECIMAL(2,3)>) WITH (kafka_topic='t', value_format='JSON', partitions=1);",
    "CREATE STREAM s (a MAP<STRING, DECIMAL(2,3)>) WITH (kafka_topic='t', value_format='JSON', partitions=1);",
    "CREATE TYPE money AS DECIMAL(2,3);",
]


@pytest.mark.parametrize("statement", BAD_DECLARATIONS)
def test_precision_below_scale_is_rejected_in_any_position(engine, statement):
    with pytest.raises(KsqlException, match=r"DECIMAL precision must be >= scale: DECIMAL\(2,3\)"):
        engine.execute(statement)


def test_precision_below_scale_is_rejected_in_a_cast(engine):
    engine.execute("CREATE STREAM s (a INT) WITH (kafka_topic='t', value_format='JSON', partitions=1);")
    with pytest.raises(KsqlException, match=r"DECIMAL precision must be >= scale"):
        engine.execute("CREATE STREAM o AS SELECT CAST(a AS DECIMAL(2,3)) AS d FROM s;")


def test_zero_precision_is_rejected(engine):
    with pytest.raises(KsqlException, match=r"DECIMAL precision must be >= 1: DECIMAL\(0,0\)"):
        engine.execute("CREATE STREAM s (a DECIMAL(0,0)) WITH (kafka_topic='t', value_format='JSON', partitions=1);")


@pytest.mark.parametrize("precision,scale", [(1, 0), (2, 2), (38, 10), (50, 30)])
def test_valid_parameters_including_precision_above_38(precision, scale):
    """ksqlDB's own tests declare DECIMAL(50, 30): there is no upper bound to check."""
    assert decimal_parameter_error(precision, scale) is None


def test_python_udf_signature_is_checked_too():
    from pyksqlite.expressions.python_udf_types import parse_param
    with pytest.raises(Exception, match="DECIMAL precision must be >= scale"):
        parse_param("DECIMAL(2,3)")
