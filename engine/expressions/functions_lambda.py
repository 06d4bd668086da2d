"""Higher-order functions over arrays (TRANSFORM, FILTER, REDUCE): special forms, because their
lambda's parameter types come from the other arguments. They compile to DuckDB's
list_transform / list_filter / list_reduce. (Map variants: not yet.)
"""
from __future__ import annotations

from engine.errors import KsqlStatementException
from grammar import ast as a
from engine.expressions.typing_rules import duckdb_type
from grammar.ast import BOOLEAN, array


def _array_and_lambda(compiler, call: a.FunctionCall, arity: int):
    if len(call.args) != arity or not isinstance(call.args[-1], a.Lambda):
        raise KsqlStatementException(
            f"Function '{call.name.lower()}' expects {arity} arguments, the last a lambda.")
    collection = compiler.compile(call.args[0])
    if collection.type is None or collection.type.base != "ARRAY":
        raise KsqlStatementException(
            f"Function '{call.name.lower()}' supports only ARRAY inputs here, got {collection.type}.")
    return collection, call.args[-1]


def compile_transform(compiler, call: a.FunctionCall):
    from engine.expressions.compiler import TypedSql
    items, body = _array_and_lambda(compiler, call, 2)
    fn = compiler.compile_lambda(body, [items.type.element])
    return TypedSql(f"list_transform({items.sql}, {fn.sql})", array(fn.type))


def compile_filter(compiler, call: a.FunctionCall):
    from engine.expressions.compiler import TypedSql
    items, body = _array_and_lambda(compiler, call, 2)
    fn = compiler.compile_lambda(body, [items.type.element])
    if fn.type != BOOLEAN:
        raise KsqlStatementException("FILTER's lambda must return BOOLEAN.")
    return TypedSql(f"list_filter({items.sql}, {fn.sql})", items.type)


def compile_reduce(compiler, call: a.FunctionCall):
    from engine.expressions.compiler import TypedSql
    items, body = _array_and_lambda(compiler, call, 3)
    initial = compiler.compile(call.args[1])
    fn = compiler.compile_lambda(body, [initial.type, items.type.element])
    state = fn.type or initial.type
    start = f"CAST({initial.sql} AS {duckdb_type(state)})"
    return TypedSql(f"list_reduce({items.sql}, {fn.sql}, {start})", state)


def register_lambda_functions(registry) -> None:
    for name, handler in (("TRANSFORM", compile_transform), ("FILTER", compile_filter),
                          ("REDUCE", compile_reduce)):
        registry.register_special(name, handler, category="LAMBDA",
                                  description=f"{name} an array with a lambda.")
