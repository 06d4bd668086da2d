"""Shared fixtures: an Arrow batch with one column per ksqlDB type and a runner that compiles an
expression, executes it over the batch on the engine's own (locked-down) DuckDB connection, and
returns (values, type)."""
from decimal import Decimal

import pyarrow as pa
import pytest

from pyksqlite.common.duck import run_sql
from pyksqlite.expressions.compiler import ExpressionCompiler
from pyksqlite.expressions.constants import conform_array
from pyksqlite.expressions.scope import scope_of_columns
from pyksqlite.common.types import from_arrow, to_arrow
from pyksqlite.grammar.parser import parse_expression

BATCH = pa.table({
    "I": pa.array([7, -7, None], pa.int32()),
    "BI": pa.array([2, 2, 3], pa.int64()),
    "D": pa.array([1.5, -2.0, None], pa.float64()),
    "DEC": pa.array([Decimal("10.10"), Decimal("-1.05"), None], pa.decimal128(5, 2)),
    "S": pa.array(["hello", "World", None], pa.string()),
    "B": pa.array([True, False, None], pa.bool_()),
    "ARR": pa.array([[1, 2, 3], [], None], pa.list_(pa.int32())),
    "M": pa.array([[("a", 1)], [("b", 2)], None], pa.map_(pa.string(), pa.int32())),
    "ST": pa.array([{"F0": 1, "NAME": "x"}, None, {"F0": None, "NAME": "z"}],
                   pa.struct([("F0", pa.int32()), ("NAME", pa.string())])),
    "TS": pa.array([1000, 1651182287943, None], pa.timestamp("ms")),
})
SCOPE = scope_of_columns({f.name: from_arrow(f.type) for f in BATCH.schema})


def run(text: str, predicate: bool = False):
    compiler = ExpressionCompiler(SCOPE)
    expr = parse_expression(text)
    typed = compiler.compile_predicate(expr) if predicate else compiler.compile_projection(expr)
    result = run_sql(f"SELECT {typed.sql} AS v FROM batch", batch=BATCH)
    column = conform_array(result.column(0).combine_chunks(), typed.type)
    assert column.type == to_arrow(typed.type)
    return column.to_pylist(), typed.type


@pytest.fixture
def evaluate():
    return run
