"""TRANSFORM, FILTER and REDUCE over a MAP: the lambdas run over the map's entries.

TRANSFORM(map, (k, v) => new_key, (k, v) => new_value), FILTER(map, (k, v) => condition) and
REDUCE(map, initial, (state, k, v) => new_state). Each lambda parameter is bound straight to the
SQL of an entry field (`entry.key`, `entry.value`), so the body compiles once, inside one DuckDB
lambda over `map_entries(...)`. A TRANSFORM producing duplicate keys fails (the value is NULL).
"""
from __future__ import annotations

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.casts import fresh_lambda_param
from pyksqlite.expressions.scope import ColumnBinding
from pyksqlite.expressions.typing_rules import duckdb_type
from pyksqlite.grammar import ast as a
from pyksqlite.grammar.ast import BOOLEAN, STRING, SqlType, map_of


def _lambdas(call: a.FunctionCall, count: int, params: int) -> list[a.Lambda]:
    lambdas = list(call.args[-count:])
    if len(call.args) != count + (2 if call.name.upper() == "REDUCE" else 1) or not all(
            isinstance(fn, a.Lambda) for fn in lambdas):
        raise KsqlStatementException(
            f"Function '{call.name.lower()}' over a MAP expects {count} lambda argument(s).")
    for fn in lambdas:
        if len(fn.params) != params:
            raise KsqlStatementException(
                f"Was expecting {params} arguments to lambda function, but got {len(fn.params)}.")
    return lambdas


def _compile_body(compiler, fn: a.Lambda, bindings: list[tuple[str, SqlType]]):
    """The lambda's body with its parameters read from the given SQL expressions."""
    from pyksqlite.expressions.compiler import ExpressionCompiler
    scope = compiler.scope.with_lambda_params(
        {name: ColumnBinding(sql, typ) for name, (sql, typ) in zip(fn.params, bindings)})
    inner = ExpressionCompiler(scope, compiler.functions)
    body = inner.compile(fn.body)
    compiler.uses_volatile |= inner.uses_volatile
    return body


def transform_map(compiler, call: a.FunctionCall, collection):
    from pyksqlite.expressions.compiler import TypedSql
    key_fn, value_fn = _lambdas(call, 2, 2)
    entry = fresh_lambda_param()
    fields = [(f"{entry}.key", STRING), (f"{entry}.value", collection.type.value)]
    key, value = _compile_body(compiler, key_fn, fields), _compile_body(compiler, value_fn, fields)
    if key.type is not None and key.type != STRING:
        raise KsqlStatementException(
            f"TRANSFORM's key lambda must return STRING (MAP keys are STRING), got {key.type}.")
    value_type = value.type or collection.type.value
    pairs = (f"list_transform(map_entries({collection.sql}), lambda {entry}: "
             f"{{'key': {key.sql}, 'value': CAST({value.sql} AS {duckdb_type(value_type)})}})")
    return TypedSql(f"map_from_entries({pairs})", map_of(STRING, value_type))


def filter_map(compiler, call: a.FunctionCall, collection):
    from pyksqlite.expressions.compiler import TypedSql
    (condition_fn,) = _lambdas(call, 1, 2)
    entry = fresh_lambda_param()
    fields = [(f"{entry}.key", STRING), (f"{entry}.value", collection.type.value)]
    condition = _compile_body(compiler, condition_fn, fields)
    if condition.type is not None and condition.type != BOOLEAN:
        raise KsqlStatementException("FILTER's lambda must return BOOLEAN.")
    kept = f"list_filter(map_entries({collection.sql}), lambda {entry}: {condition.sql})"
    return TypedSql(f"map_from_entries({kept})", collection.type)


def reduce_map(compiler, call: a.FunctionCall, collection):
    from pyksqlite.expressions.compiler import TypedSql
    (step_fn,) = _lambdas(call, 1, 3)
    initial = compiler.compile(call.args[1])
    if initial.type is None:
        raise KsqlStatementException("REDUCE's initial state cannot be an untyped NULL.")
    state, entry = fresh_lambda_param(), fresh_lambda_param()
    fields = [(state, initial.type), (f"{entry}.key", STRING),
              (f"{entry}.value", collection.type.value)]
    step = _compile_body(compiler, step_fn, fields)
    state_type = step.type or initial.type
    if state_type != initial.type:
        # The state keeps the initial value's type, as in ksqlDB.
        state_type = initial.type
    duck = duckdb_type(state_type)
    start = f"CAST({initial.sql} AS {duck})"
    entries = (f"coalesce(map_entries({collection.sql}), "
               f"CAST([] AS STRUCT(key VARCHAR, value {duckdb_type(collection.type.value)})[]))")
    reduced = (f"list_reduce({entries}, lambda {state}, {entry}: CAST({step.sql} AS {duck}), "
               f"{start})")
    return TypedSql(f"CASE WHEN {start} IS NULL THEN NULL ELSE {reduced} END", state_type)
