"""Higher-order functions over arrays (TRANSFORM, FILTER, REDUCE): special forms, because their
lambda's parameter types come from the other arguments. They compile to DuckDB's
list_transform / list_filter / list_reduce; over a MAP they run on its entries
(`builtins_lambda_map.py`).
"""
from __future__ import annotations

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.grammar import ast as a
from pyksqlite.expressions.typing_rules import duckdb_type
from pyksqlite.grammar.ast import BOOLEAN, array


def _array_and_lambda(compiler, call: a.FunctionCall, arity: int):
    collection = compiler.compile(call.args[0]) if call.args else None
    if collection is not None and collection.type is not None and collection.type.base == "MAP":
        raise _MapCollection(collection)
    if len(call.args) != arity or not isinstance(call.args[-1], a.Lambda):
        raise KsqlStatementException(
            f"Function '{call.name.lower()}' expects {arity} arguments, the last a lambda.")
    if collection.type is None or collection.type.base != "ARRAY":
        raise KsqlStatementException(
            f"Function '{call.name.lower()}' supports only ARRAY inputs here, got {collection.type}.")
    return collection, call.args[-1]


class _MapCollection(Exception):
    """Raised to hand a MAP-typed call over to the map variants."""
    def __init__(self, collection):
        super().__init__("map collection")
        self.collection = collection


def _over_maps(array_form, map_form):
    """`array_form`, or `map_form(compiler, call, compiled map)` when the collection is a MAP."""
    def compile_call(compiler, call: a.FunctionCall):
        try:
            return array_form(compiler, call)
        except _MapCollection as handover:
            return map_form(compiler, call, handover.collection)
    return compile_call


def compile_transform(compiler, call: a.FunctionCall):
    from pyksqlite.expressions.compiler import TypedSql
    items, body = _array_and_lambda(compiler, call, 2)
    fn = compiler.compile_lambda(body, [items.type.element])
    return TypedSql(f"list_transform({items.sql}, {fn.sql})", array(fn.type))


def compile_filter(compiler, call: a.FunctionCall):
    from pyksqlite.expressions.compiler import TypedSql
    items, body = _array_and_lambda(compiler, call, 2)
    fn = compiler.compile_lambda(body, [items.type.element])
    if fn.type != BOOLEAN:
        raise KsqlStatementException("FILTER's lambda must return BOOLEAN.")
    return TypedSql(f"list_filter({items.sql}, {fn.sql})", items.type)


def compile_reduce(compiler, call: a.FunctionCall):
    from pyksqlite.expressions.compiler import TypedSql
    items, body = _array_and_lambda(compiler, call, 3)
    initial = compiler.compile(call.args[1])
    fn = compiler.compile_lambda(body, [initial.type, items.type.element])
    state = fn.type or initial.type
    start = f"CAST({initial.sql} AS {duckdb_type(state)})"
    empty = f"CAST([] AS {duckdb_type(items.type)})"
    # A NULL array reduces to the initial state; a NULL initial state gives NULL.
    return TypedSql(f"CASE WHEN {start} IS NULL THEN NULL ELSE "
                    f"list_reduce(coalesce({items.sql}, {empty}), {fn.sql}, {start}) END", state)


def register_lambda_functions(registry) -> None:
    from pyksqlite.expressions import builtins_lambda_map as over_map
    for name, handler in (("TRANSFORM", _over_maps(compile_transform, over_map.transform_map)),
                          ("FILTER", _over_maps(compile_filter, over_map.filter_map)),
                          ("REDUCE", _over_maps(compile_reduce, over_map.reduce_map))):
        registry.register_special(name, handler, category="LAMBDA",
                                  description=f"{name} an array or a map with a lambda.")
