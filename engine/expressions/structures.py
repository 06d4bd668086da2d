"""Compilation of the structured expressions: struct dereference, subscripts, ARRAY/MAP/STRUCT
constructors, CASE and IN, and the implicit coercions they share.

ksqlDB coerces *literals* towards the type of their peers: `ARRAY[1, '2']` is ARRAY<INTEGER>,
`x IN ('10')` compares a number; numbers widen INT -> BIGINT -> DECIMAL -> DOUBLE. These are
functions taking the compiler as first argument (they are bound as its methods).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Optional

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.common.duck import quote_identifier, quote_string
from pyksqlite.expressions.casts import cast_sql, struct_field_sql
from pyksqlite.grammar.formatter import format_expression
from pyksqlite.expressions.typing_rules import can_widen, duckdb_type, widest_numeric
from pyksqlite.common.types import is_numeric
from pyksqlite.grammar import ast as a
from pyksqlite.grammar.ast import BOOLEAN, STRING, SqlType, array, map_of, struct


def _typed(sql, typ):
    from pyksqlite.expressions.compiler import TypedSql
    return TypedSql(sql, typ)


# ---- literal coercion ----------------------------------------------------------------------

def parse_string_literal(text: str, target: SqlType, period: bool) -> str:
    """SQL for string literal `text` read as a `target` value, or ksqlDB's syntax error."""
    try:
        if target.base == "BOOLEAN":
            # ksqlDB's SqlBooleans: 'true'/'yes' and 'false'/'no', or a prefix of one, any case.
            word = text.strip().lower()
            if word and any(v.startswith(word) for v in ("true", "yes")):
                return "TRUE"
            if word and any(v.startswith(word) for v in ("false", "no")):
                return "FALSE"
            raise ValueError
        number = Decimal(text.strip())
        if target.base in ("INTEGER", "BIGINT") and number != number.to_integral_value():
            raise ValueError
        literal = str(int(number)) if target.base in ("INTEGER", "BIGINT") else str(number)
        return f"CAST({quote_string(literal)} AS {duckdb_type(target)})"
    except (ValueError, InvalidOperation):
        suffix = "." if period else ""
        raise KsqlStatementException(
            f'invalid input syntax for type {target}: "{text}"{suffix}') from None


def coerce_expression(compiler, expr: a.Expr, target: SqlType, period: bool = True):
    """Compile `expr` as a value of `target`, coercing literals and constructors element-wise.
    Returns None when the types are incompatible (the caller words the error)."""
    if isinstance(expr, a.StringLiteral) and target.base in ("INTEGER", "BIGINT", "DOUBLE",
                                                               "DECIMAL", "BOOLEAN"):
        return _typed(parse_string_literal(expr.value, target, period), target)
    if isinstance(expr, a.ArrayConstructor) and target.base == "ARRAY" and expr.items:
        items = [coerce_expression(compiler, item, target.element, False) for item in expr.items]
        if all(items):
            return _typed(f"[{', '.join(i.sql for i in items)}]", target)
        return None
    if isinstance(expr, a.MapConstructor) and target.base == "MAP" and expr.entries:
        keys = [_map_key_sql(compiler, k) for k, _ in expr.entries]
        values = [coerce_expression(compiler, v, target.value, True) for _, v in expr.entries]
        if all(values):
            return _typed(f"MAP([{', '.join(keys)}], [{', '.join(v.sql for v in values)}])", target)
        return None
    if isinstance(expr, a.StructConstructor) and target.base == "STRUCT":
        return _coerce_struct_constructor(compiler, expr, target)
    return coerce(compiler.compile(expr), target, expr)


def _coerce_struct_constructor(compiler, expr: a.StructConstructor, target: SqlType):
    given = dict(expr.fields)
    parts = []
    for name, field_type in target.fields:
        value = (coerce_expression(compiler, given[name], field_type, False) if name in given
                 else _typed(f"CAST(NULL AS {duckdb_type(field_type)})", field_type))
        if value is None:
            return None
        parts.append(f"{quote_identifier(name)} := {value.sql}")
    if set(given) - {name for name, _ in target.fields}:
        return None
    return _typed(f"struct_pack({', '.join(parts)})", target)


def coerce(typed, target: SqlType, expr: Optional[a.Expr]):
    """`typed` implicitly converted to `target`, or None when ksqlDB would not convert it."""
    if typed.type is None:
        return _typed(f"CAST(NULL AS {duckdb_type(target)})", target)
    if typed.type == target:
        return typed
    if can_widen(typed.type, target) or _struct_widens(typed.type, target):
        return _typed(cast_sql(typed.sql, typed.type, target), target)
    return None


def _struct_widens(source: SqlType, target: SqlType) -> bool:
    if not (source.base == target.base == "STRUCT"):
        return False
    target_fields = dict(target.fields)
    return all(name in target_fields and (t == target_fields[name] or can_widen(t, target_fields[name]))
               for name, t in source.fields)


# ---- common types --------------------------------------------------------------------------

def common_type(compiler, exprs: list[a.Expr], typed: list) -> Optional[SqlType]:
    """The type `exprs` unify to, literal strings adapting to their peers; None if all NULL."""
    peers = [t.type for e, t in zip(exprs, typed)
             if t.type is not None and not isinstance(e, a.StringLiteral)]
    if not peers:
        return STRING if any(t.type is not None for t in typed) else None
    return unify_types(peers)


def unify_types(types: list[SqlType]) -> Optional[SqlType]:
    first = types[0]
    if all(t == first for t in types):
        return first
    if all(is_numeric(t) for t in types):
        return widest_numeric(types)
    if all(t.base == "STRUCT" for t in types):
        return _union_struct(types)
    if all(t.base == "ARRAY" for t in types):
        element = unify_types([t.element for t in types])
        return array(element) if element else None
    if all(t.base == "MAP" for t in types):
        value = unify_types([t.value for t in types])
        return map_of(STRING, value) if value else None
    return None


def _union_struct(types: list[SqlType]) -> Optional[SqlType]:
    fields: dict[str, list[SqlType]] = {}
    for t in types:
        for name, field_type in t.fields:
            fields.setdefault(name, []).append(field_type)
    unified = [(name, unify_types(ts)) for name, ts in fields.items()]
    return None if any(t is None for _, t in unified) else struct(unified)


def _coerce_all(compiler, exprs, target: SqlType, period: bool, describe_error) -> list:
    results = []
    for expr in exprs:
        value = coerce_expression(compiler, expr, target, period)
        if value is None:
            raise KsqlStatementException(describe_error(expr))
        results.append(value)
    return results


# ---- constructors --------------------------------------------------------------------------

def compile_array(compiler, expr: a.ArrayConstructor):
    if not expr.items:
        raise KsqlStatementException(
            "Array constructor cannot be empty. Please supply at least one element "
            "(see https://github.com/confluentinc/ksql/issues/4239).")
    typed = [compiler.compile(item) for item in expr.items]
    element = common_type(compiler, list(expr.items), typed)
    if element is None:
        raise KsqlStatementException(
            "Cannot construct an array with all NULL elements "
            "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
            "cast a NULL value to the desired type.")
    items = _coerce_all(compiler, expr.items, element, False,
                        lambda e: f"Cannot construct an array with mismatching types: "
                                  f"{format_expression(e)} is not {element}")
    return _typed(f"[{', '.join(i.sql for i in items)}]", array(element))


def _map_key_sql(compiler, key: a.Expr) -> str:
    typed = compiler.compile(key)
    if typed.type is None:
        return "'null'"
    return f"coalesce({cast_sql(typed.sql, typed.type, STRING)}, 'null')"


def compile_map(compiler, expr: a.MapConstructor):
    if not expr.entries:
        raise KsqlStatementException(
            "Map constructor cannot be empty. Please supply at least one key value pair "
            "(see https://github.com/confluentinc/ksql/issues/4239).")
    values = [v for _, v in expr.entries]
    value_type = common_type(compiler, values, [compiler.compile(v) for v in values])
    if value_type is None:
        raise KsqlStatementException(
            "Cannot construct a map with all NULL values "
            "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
            "cast a NULL value to the desired type.")
    keys = [_map_key_sql(compiler, k) for k, _ in expr.entries]
    coerced = _coerce_all(compiler, values, value_type, True,
                          lambda e: f"Cannot construct a map with mismatching value types: "
                                    f"{format_expression(e)} is not {value_type}")
    sql = f"MAP([{', '.join(keys)}], [{', '.join(v.sql for v in coerced)}])"
    return _typed(sql, map_of(STRING, value_type))


def compile_struct(compiler, expr: a.StructConstructor):
    parts, fields = [], []
    for name, value in expr.fields:
        typed = compiler.compile(value)
        if typed.type is None:
            raise KsqlStatementException(
                "Can't infer a type of null. Please explicitly cast it to a required type, "
                "e.g. CAST(null AS VARCHAR).")
        parts.append(f"{quote_identifier(name)} := {typed.sql}")
        fields.append((name, typed.type))
    return _typed(f"struct_pack({', '.join(parts)})", struct(fields))


# ---- access ---------------------------------------------------------------------------------

def compile_dereference(compiler, expr: a.Dereference):
    base = compiler.compile(expr.base)
    if base.type is None or base.type.base != "STRUCT":
        raise KsqlStatementException(
            f"Expected STRUCT type for dereference of {format_expression(expr.base)} "
            f"but got {base.type}.")
    fields = dict(base.type.fields)
    if expr.field not in fields:
        raise KsqlStatementException(
            f"Could not find field '{expr.field}' in '{format_expression(expr.base)}'.")
    return _typed(struct_field_sql(base.sql, expr.field), fields[expr.field])


def compile_subscript(compiler, expr: a.Subscript):
    base, index = compiler.compile(expr.base), compiler.compile(expr.index)
    if base.type is not None and base.type.base == "ARRAY":
        if index.type is not None and index.type.base not in ("INTEGER", "BIGINT"):
            raise KsqlStatementException(f"Array index must be INTEGER but was {index.type}.")
        return _typed(f"list_extract({base.sql}, {index.sql})", base.type.element)
    if base.type is not None and base.type.base == "MAP":
        key = cast_sql(index.sql, index.type, STRING) if index.type else "NULL"
        return _typed(f"element_at({base.sql}, {key})[1]", base.type.value)
    raise KsqlStatementException(
        f"Subscript expression must be an ARRAY or MAP but was {base.type}: "
        f"{format_expression(expr)}")


# ---- CASE and IN --------------------------------------------------------------------------

def _case_result(compiler, whens, default) -> tuple[list, Optional[object], SqlType]:
    results = [w.result for w in whens] + ([default] if default is not None else [])
    typed = [compiler.compile(r) for r in results]
    result_type = common_type(compiler, results, typed)
    if result_type is None:
        if all(t.type is None for t in typed):
            raise KsqlStatementException("Invalid Case expression. All case branches have NULL type")
        raise KsqlStatementException(
            "Invalid Case expression. Type for all 'THEN' clauses should be the same.")
    coerced = _coerce_all(compiler, results, result_type, True,
                          lambda e: f"Invalid Case expression. Type for all 'THEN' clauses should "
                                    f"be the same. THEN expression '{format_expression(e)}' "
                                    f"has a different type.")
    branch_sql = [c.sql for c in coerced]
    default_sql = branch_sql[-1] if default is not None else None
    return branch_sql[:len(whens)], default_sql, result_type


def compile_searched_case(compiler, expr: a.SearchedCase):
    conditions = []
    for when in expr.whens:
        typed = compiler.compile(when.condition)
        if typed.type is not None and typed.type != BOOLEAN:
            raise KsqlStatementException(
                f"WHEN operand type should be boolean. Type for '{format_expression(when.condition)}' "
                f"is {typed.type}")
        conditions.append(typed.sql)
    results, default, result_type = _case_result(compiler, expr.whens, expr.default)
    arms = " ".join(f"WHEN {c} THEN {r}" for c, r in zip(conditions, results))
    tail = f" ELSE {default}" if default is not None else ""
    return _typed(f"(CASE {arms}{tail} END)", result_type)


def compile_simple_case(compiler, expr: a.SimpleCase):
    whens = tuple(a.WhenClause(a.Comparison("=", expr.operand, w.condition), w.result)
                  for w in expr.whens)
    return compile_searched_case(compiler, a.SearchedCase(whens, expr.default))


def compile_in_list(compiler, expr: a.InList):
    value = compiler.compile(expr.value)
    items = []
    for item in expr.items:
        if value.type is None:
            items.append(compiler.compile(item).sql)
            continue
        coerced = _in_item(compiler, item, value.type)
        items.append(coerced.sql)
    negation = "NOT " if expr.negated else ""
    return _typed(f"({value.sql} {negation}IN ({', '.join(items)}))", BOOLEAN)


def _in_item(compiler, item: a.Expr, value_type: SqlType):
    try:
        coerced = coerce_expression(compiler, item, value_type, True)
    except KsqlStatementException as error:
        raise KsqlStatementException(f"Invalid Predicate: {error.message}") from None
    if coerced is not None:
        return coerced
    typed = compiler.compile(item)
    if is_numeric(value_type) and typed.type is not None and is_numeric(typed.type):
        return typed
    hint = "\nHint: You might need to add explicit type casts." if value_type == BOOLEAN else ""
    raise KsqlStatementException(
        f"Invalid Predicate: operator does not exist: {value_type} = {typed.type} "
        f"({format_expression(item)}){hint}")
