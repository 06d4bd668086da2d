"""Compilation of the structured expressions: struct dereference, subscripts, ARRAY/MAP/STRUCT
constructors, CASE and IN, and the conversion of expressions to the type `coercion` chose.

`coercion` decides types (`ARRAY[1, '2']` is ARRAY<INTEGER>, `x IN (1, 2.5)` compares as
DECIMAL); `convert` applies a decision to compiled SQL: a literal's value converts once here, any
other expression is CAST per record. These are functions taking the compiler as first argument
(they are bound as its methods).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Optional

from pyksqlite.common.duck import quote_identifier, quote_string
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions import coercion
from pyksqlite.expressions.casts import cast_sql, struct_field_sql
from pyksqlite.common.number_text import java_double_text
from pyksqlite.expressions.typed_sql import TypedSql
from pyksqlite.expressions.typing_rules import duckdb_type
from pyksqlite.grammar import ast as a
from pyksqlite.grammar.ast import BOOLEAN, STRING, SqlType, array, map_of, struct
from pyksqlite.grammar.formatter import format_expression


def _typed(sql, typ):
    return TypedSql(sql, typ)


# ---- conversion to a common type ----------------------------------------------------------

def type_of(compiler):
    """A function giving the type of a sub-expression (what `coercion.common_type` needs)."""
    return lambda expr: compiler.compile(expr).type


def convert(compiler, expr: a.Expr, typed, target: SqlType):
    """`expr` (compiled as `typed`) as a value of `target`, which `coercion` chose for it: a
    literal is converted once, here (`'10'` becomes the number 10), anything else is CAST."""
    if typed.type is None:
        return _typed(f"CAST(NULL AS {duckdb_type(target)})", target)
    if typed.type == target:
        return typed
    if isinstance(expr, coercion.LITERALS):
        literal = _literal_sql(expr, target)
        if literal is not None:
            return _typed(literal, target)
    return _typed(cast_sql(typed.sql, typed.type, target), target)


def _literal_sql(expr: a.Expr, target: SqlType) -> Optional[str]:
    """A literal's value converted to `target` as ksqlDB's lax literal coercion does; None when a
    plain CAST of the compiled literal does the same."""
    if target.base == "STRING":
        return quote_string(literal_text(expr))
    if not isinstance(expr, a.StringLiteral):
        return None
    if target.base == "BOOLEAN":
        value = coercion.parse_boolean(expr.value)
        if value is None:
            raise coercion.invalid_syntax(expr.value, target)
        return "TRUE" if value else "FALSE"
    if target.base in ("INTEGER", "BIGINT", "DECIMAL"):
        try:
            number = Decimal(expr.value.strip())
        except InvalidOperation:
            raise coercion.invalid_syntax(expr.value, target) from None
        if target.base != "DECIMAL" and number != number.to_integral_value():
            raise coercion.invalid_syntax(expr.value, target)
        text = str(int(number)) if target.base != "DECIMAL" else str(number)
        return f"CAST({quote_string(text)} AS {duckdb_type(target)})"
    return None


def literal_text(expr: a.Expr) -> str:
    """A literal as a STRING: its Java `toString` (`1.0E7` for a DOUBLE, plain DECIMAL digits)."""
    if isinstance(expr, a.StringLiteral):
        return expr.value
    if isinstance(expr, a.BooleanLiteral):
        return "true" if expr.value else "false"
    if isinstance(expr, a.IntegerLiteral):
        return str(expr.value)
    if isinstance(expr, a.DecimalLiteral):
        return str(Decimal(expr.text))
    if isinstance(expr, a.DoubleLiteral):
        return java_double_text(expr.value)
    raise KsqlStatementException(f"Not a literal: {format_expression(expr)}")


def coerce_list(compiler, exprs: list[a.Expr]) -> tuple[Optional[SqlType], list]:
    """The common type of `exprs` (None if all are NULL) and each converted to it."""
    typed = [compiler.compile(e) for e in exprs]
    common = coercion.common_type(list(zip(exprs, [t.type for t in typed])), type_of(compiler))
    if common is None:
        return None, typed
    return common, [convert(compiler, e, t, common) for e, t in zip(exprs, typed)]


def coerce_to(compiler, expr: a.Expr, target: SqlType):
    """`expr` as a value of `target` when ksqlDB converts it implicitly, else None."""
    typed = compiler.compile(expr)
    if typed.type is None or typed.type == target:
        return convert(compiler, expr, typed, target)
    lax = isinstance(expr, coercion.LITERALS)
    if isinstance(expr, a.StringLiteral) and coercion.is_number(target):
        try:
            coercion.string_number_type(expr.value)
        except ValueError:
            raise coercion.invalid_syntax(expr.value, target) from None
    elif coercion.coerce_type(typed.type, target, lax) is None:
        return None
    return convert(compiler, expr, typed, target)


# ---- constructors --------------------------------------------------------------------------

def compile_array(compiler, expr: a.ArrayConstructor):
    if not expr.items:
        raise KsqlStatementException(
            "Array constructor cannot be empty. Please supply at least one element "
            "(see https://github.com/confluentinc/ksql/issues/4239).")
    element, items = coerce_list(compiler, list(expr.items))
    if element is None:
        raise KsqlStatementException(
            "Cannot construct an array with all NULL elements "
            "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
            "cast a NULL value to the desired type.")
    return _typed(f"[{', '.join(i.sql for i in items)}]", array(element))


def compile_map(compiler, expr: a.MapConstructor):
    if not expr.entries:
        raise KsqlStatementException(
            "Map constructor cannot be empty. Please supply at least one key value pair "
            "(see https://github.com/confluentinc/ksql/issues/4239).")
    key_type, keys = coerce_list(compiler, [k for k, _ in expr.entries])
    if key_type is None:
        raise KsqlStatementException(
            "Cannot construct a map with all NULL keys "
            "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
            "cast a NULL key to the desired type.")
    value_type, values = coerce_list(compiler, [v for _, v in expr.entries])
    if value_type is None:
        raise KsqlStatementException(
            "Cannot construct a map with all NULL values "
            "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
            "cast a NULL value to the desired type.")
    key_sql = [f"coalesce({k.sql}, 'null')" if key_type == STRING else k.sql for k in keys]
    sql = f"MAP([{', '.join(key_sql)}], [{', '.join(v.sql for v in values)}])"
    return _typed(sql, map_of(key_type, value_type))


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
        key = coerce_to(compiler, expr.index, base.type.key)
        key_sql = key.sql if key is not None else cast_sql(index.sql, index.type, base.type.key)
        return _typed(f"element_at({base.sql}, {key_sql})[1]", base.type.value)
    raise KsqlStatementException(
        f"Subscript expression must be an ARRAY or MAP but was {base.type}: "
        f"{format_expression(expr)}")


# ---- CASE and IN --------------------------------------------------------------------------

def _case_result(compiler, whens, default) -> tuple[list, Optional[str], SqlType]:
    """The branches' SQL and type. ksqlDB converts nothing here: every THEN and the ELSE must be
    of one type (NULL fits any)."""
    typed_whens = [compiler.compile(w.result) for w in whens]
    result_type = None
    for when, typed in zip(whens, typed_whens):
        if typed.type is None:
            continue
        if result_type is not None and typed.type != result_type:
            raise KsqlStatementException(
                "Invalid Case expression. Type for all 'THEN' clauses should be the same.\n"
                f"THEN expression 'WHEN {format_expression(when.condition)} THEN "
                f"{format_expression(when.result)}' has type: {typed.type}.\n"
                f"Previous THEN expression(s) type: {result_type}.")
        result_type = typed.type
    typed_default = compiler.compile(default) if default is not None else None
    default_type = typed_default.type if typed_default is not None else None
    if result_type is not None and default_type is not None and default_type != result_type:
        raise KsqlStatementException(
            "Invalid Case expression. Type for the default clause should be the same as for "
            f"'THEN' clauses.\nTHEN type: {result_type}.\nDEFAULT type: {default_type}.")
    result_type = result_type or default_type
    if result_type is None:
        raise KsqlStatementException("Invalid Case expression. All case branches have NULL type")
    branch_sql = [convert(compiler, w.result, t, result_type).sql for w, t in zip(whens, typed_whens)]
    default_sql = convert(compiler, default, typed_default, result_type).sql if default is not None else None
    return branch_sql, default_sql, result_type


def compile_searched_case(compiler, expr: a.SearchedCase):
    conditions = []
    for when in expr.whens:
        typed = compiler.compile(when.condition)
        if typed.type is not None and typed.type != BOOLEAN:
            raise KsqlStatementException(
                f"WHEN operand type should be boolean.\nType for '{format_expression(when.condition)}' "
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
    """`value IN (items)`: the value and the items convert to their common type (ksqlDB's
    expression-list rule); never NULL, as ksqlDB's IN is false for a NULL value."""
    try:
        common, converted = coerce_list(compiler, [expr.value, *expr.items])
    except KsqlStatementException as error:
        raise KsqlStatementException(f"Invalid Predicate: {error.message}") from None
    value, items = converted[0], converted[1:]
    matched = f"coalesce(({value.sql} IN ({', '.join(i.sql for i in items)})), false)"
    return _typed(f"(NOT {matched})" if expr.negated else matched, BOOLEAN)
