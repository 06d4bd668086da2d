"""Compile a ksqlDB expression AST once into DuckDB SQL text plus its ksqlDB result type.

A stateless stage runs `SELECT <projections> FROM batch WHERE <predicate>` per Arrow batch, so
everything here happens once per query; no code runs per record. Operators and literals are
here; constructors, CASE, IN and subscripts are in `structures.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from pyksqlite.common.duck import quote_string
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions import structures
from pyksqlite.expressions.casts import cast_sql, fresh_lambda_param, wrap_int32, wrap_int64
from pyksqlite.grammar.formatter import format_expression
from pyksqlite.expressions.functions import FunctionRegistry, default_registry
from pyksqlite.expressions.scope import ColumnBinding, Scope, UnresolvedColumnException
from pyksqlite.expressions.typing_rules import (arithmetic_type, comparable, decimal_literal_type,
                                             duckdb_type, integer_literal_type)
from pyksqlite.common.types import is_numeric
from pyksqlite.grammar import ast as a
from pyksqlite.grammar.ast import BOOLEAN, DOUBLE, STRING, SqlType


@dataclass(frozen=True)
class TypedSql:
    """DuckDB SQL text and the ksqlDB type of its value (None only for an untyped NULL)."""
    sql: str
    type: Optional[SqlType]


COMPARISON_NAMES = {
    "=": "EQUAL", "<>": "NOT_EQUAL", "<": "LESS_THAN", "<=": "LESS_THAN_OR_EQUAL",
    ">": "GREATER_THAN", ">=": "GREATER_THAN_OR_EQUAL", "IS DISTINCT FROM": "IS_DISTINCT_FROM",
    "IS NOT DISTINCT FROM": "IS_NOT_DISTINCT_FROM",
}
VOLATILE_FUNCTIONS = {"RANDOM", "UUID"}
NULL_TYPE_MESSAGE = ("Can't infer a type of null. Please explicitly cast it to a required type, "
                     "e.g. CAST(null AS VARCHAR).")


class ExpressionCompiler:
    """Compiles expressions against one scope; keep one per query stage."""

    def __init__(self, scope: Scope, functions: Optional[FunctionRegistry] = None):
        self.scope = scope
        self.functions = functions or default_registry()
        self.uses_volatile = False

    # ---- public entry points -------------------------------------------------------------

    def compile(self, expr: a.Expr) -> TypedSql:
        method = getattr(self, f"_compile_{type(expr).__name__}", None)
        if method is None:
            raise KsqlStatementException(f"Unsupported expression: {format_expression(expr)}")
        return method(expr)

    def compile_predicate(self, expr: a.Expr, clause: Optional[str] = None) -> TypedSql:
        """A BOOLEAN condition; an evaluation error makes it NULL (the record is dropped).

        With `clause` ('WHERE', 'HAVING') errors carry ksqlDB's clause prefix."""
        try:
            typed = self.compile(expr)
        except UnresolvedColumnException as error:
            raise error.in_clause(clause) if clause else error
        except KsqlStatementException as error:
            if clause and not error.message.startswith("Invalid Predicate"):
                raise type(error)(f"Error in {clause} expression: {error.message}") from None
            raise
        if typed.type is not None and typed.type != BOOLEAN:
            prefix = f"Type error in {clause} expression: " if clause else ""
            raise KsqlStatementException(f"{prefix}Should evaluate to boolean but is "
                                         f"{format_expression(expr)} ({typed.type}) instead.")
        return TypedSql(self._null_on_error(typed.sql), BOOLEAN)

    def compile_projection(self, expr: a.Expr) -> TypedSql:
        """A SELECT expression typed exactly as `to_arrow(type)`; an evaluation error gives NULL."""
        try:
            typed = self.compile(expr)
        except UnresolvedColumnException as error:
            raise error.in_clause("SELECT") from None
        except KsqlStatementException as error:
            if error.message.startswith("Cast of"):
                raise KsqlStatementException(f"Invalid Select: {error.message}") from None
            raise
        if typed.type is None:
            raise KsqlStatementException(NULL_TYPE_MESSAGE)
        conformed = f"CAST({typed.sql} AS {duckdb_type(typed.type)})"
        return TypedSql(self._null_on_error(conformed), typed.type)

    def compile_lambda(self, expr: a.Lambda, param_types: list[SqlType]) -> TypedSql:
        """A DuckDB lambda (`lambda x, y: body`) whose parameters shadow columns in its body;
        the type is the body's. For TRANSFORM/FILTER/REDUCE-style functions."""
        if len(expr.params) != len(param_types):
            raise KsqlStatementException(
                f"Was expecting {len(param_types)} arguments to lambda function, "
                f"but got {len(expr.params)}.")
        # Internal names: a parameter's own name may be any quoted identifier.
        names = {p: fresh_lambda_param() for p in expr.params}
        bindings = {p: ColumnBinding(names[p], t) for p, t in zip(expr.params, param_types)}
        inner = ExpressionCompiler(self.scope.with_lambda_params(bindings), self.functions)
        body = inner.compile(expr.body)
        self.uses_volatile |= inner.uses_volatile
        return TypedSql(f"lambda {', '.join(names.values())}: {body.sql}", body.type)

    def _null_on_error(self, sql: str) -> str:
        return sql if self.uses_volatile else f"TRY({sql})"

    # ---- literals and references ---------------------------------------------------------

    def _compile_NullLiteral(self, expr: a.NullLiteral) -> TypedSql:
        return TypedSql("NULL", None)

    def _compile_BooleanLiteral(self, expr: a.BooleanLiteral) -> TypedSql:
        return TypedSql("TRUE" if expr.value else "FALSE", BOOLEAN)

    def _compile_IntegerLiteral(self, expr: a.IntegerLiteral) -> TypedSql:
        typ = integer_literal_type(expr.value)
        return TypedSql(f"CAST({expr.value} AS {duckdb_type(typ)})", typ)

    def _compile_DecimalLiteral(self, expr: a.DecimalLiteral) -> TypedSql:
        typ = decimal_literal_type(expr.text)
        return TypedSql(f"CAST({quote_string(expr.text)} AS {duckdb_type(typ)})", typ)

    def _compile_DoubleLiteral(self, expr: a.DoubleLiteral) -> TypedSql:
        return TypedSql(f"CAST({quote_string(repr(expr.value))} AS DOUBLE)", DOUBLE)

    def _compile_StringLiteral(self, expr: a.StringLiteral) -> TypedSql:
        return TypedSql(quote_string(expr.value), STRING)

    def _compile_ColumnRef(self, expr: a.ColumnRef) -> TypedSql:
        binding = self.scope.resolve(expr)
        return TypedSql(binding.sql_name, binding.type)

    def _compile_TimeUnitArg(self, expr: a.TimeUnitArg) -> TypedSql:
        return TypedSql(quote_string(expr.unit), STRING)

    # ---- operators -------------------------------------------------------------------------

    def _compile_ArithmeticUnary(self, expr: a.ArithmeticUnary) -> TypedSql:
        operand = self.compile(expr.operand)
        if operand.type is not None and not is_numeric(operand.type):
            raise KsqlStatementException(
                f"Error processing expression: {format_expression(expr)}. "
                f"Unsupported arithmetic types. {_base(operand.type)}")
        if expr.op == "+":
            return operand
        if operand.type is not None and operand.type.base == "INTEGER":
            return TypedSql(wrap_int32(f"(-CAST({operand.sql} AS BIGINT))"), operand.type)
        return TypedSql(f"(-{operand.sql})", operand.type)

    def _compile_ArithmeticBinary(self, expr: a.ArithmeticBinary) -> TypedSql:
        if expr.op == "||":
            return self.compile(a.FunctionCall("CONCAT", (expr.left, expr.right)))
        left, right = self.compile(expr.left), self.compile(expr.right)
        if left.type is None or right.type is None:
            raise KsqlStatementException(
                f"Error processing expression: {format_expression(expr)}. Arithmetic on types "
                f"{_type_name(left.type)} and {_type_name(right.type)} are not supported.")
        if expr.op == "+" and STRING in (left.type, right.type) and \
                all(t is None or t == STRING for t in (left.type, right.type)):
            return TypedSql(f"({left.sql} || {right.sql})", STRING)  # ksqlDB's string '+'
        result = arithmetic_type(expr.op, left.type or right.type or DOUBLE,
                                 right.type or left.type or DOUBLE)
        if result is None:
            raise KsqlStatementException(
                f"Error processing expression: {format_expression(expr)}. "
                f"Unsupported arithmetic types. {_base(left.type)} {_base(right.type)}")
        return TypedSql(arithmetic_sql(expr.op, left.sql, right.sql, result), result)

    def _compile_Comparison(self, expr: a.Comparison) -> TypedSql:
        left, right = self.compile(expr.left), self.compile(expr.right)
        if left.type is None and right.type is None:
            raise KsqlStatementException(
                f"Comparison with NULL not supported: NULL {expr.op} NULL")
        left, right = self._comparable_pair(expr, left, right)
        if expr.op.startswith("IS "):
            return TypedSql(f"({left.sql} {expr.op} {right.sql})", BOOLEAN)
        # ksqlDB compares a NULL operand as false, not NULL (so NOT (x > 1) holds for a NULL x).
        return TypedSql(f"coalesce(({left.sql} {expr.op} {right.sql}), false)", BOOLEAN)

    def _comparable_pair(self, expr: a.Comparison, left: TypedSql, right: TypedSql):
        if left.type is None or right.type is None:
            return left, right
        if not comparable(left.type, right.type, expr.op):
            raise KsqlStatementException(
                f"Cannot compare {format_expression(expr.left)} ({left.type}) to "
                f"{format_expression(expr.right)} ({right.type}) with {COMPARISON_NAMES[expr.op]}.")
        temporal = ("DATE", "TIME", "TIMESTAMP")
        if left.type.base == "STRING" and right.type.base in temporal:
            left = TypedSql(cast_sql(left.sql, left.type, right.type), right.type)
        if right.type.base == "STRING" and left.type.base in temporal:
            right = TypedSql(cast_sql(right.sql, right.type, left.type), left.type)
        return left, right

    def _compile_LogicalBinary(self, expr: a.LogicalBinary) -> TypedSql:
        left, right = self._boolean(expr.left), self._boolean(expr.right)
        return TypedSql(f"({left} {expr.op} {right})", BOOLEAN)

    def _compile_Not(self, expr: a.Not) -> TypedSql:
        return TypedSql(f"(NOT {self._boolean(expr.operand)})", BOOLEAN)

    def _boolean(self, expr: a.Expr) -> str:
        typed = self.compile(expr)
        if typed.type is not None and typed.type != BOOLEAN:
            raise KsqlStatementException(
                f"Logical operand {format_expression(expr)} must be of type BOOLEAN, "
                f"but was {typed.type}.")
        return typed.sql

    def _compile_IsNull(self, expr: a.IsNull) -> TypedSql:
        operand = self.compile(expr.operand)
        return TypedSql(f"({operand.sql} IS {'NOT ' if expr.negated else ''}NULL)", BOOLEAN)

    def _compile_Between(self, expr: a.Between) -> TypedSql:
        value = self.compile(expr.value)
        bounds = []
        for bound in (expr.low, expr.high):
            pair = self._comparable_pair(a.Comparison(">=", expr.value, bound), value,
                                         self.compile(bound))
            bounds.append(pair[1].sql)
        negation = "NOT " if expr.negated else ""
        return TypedSql(f"({value.sql} {negation}BETWEEN {bounds[0]} AND {bounds[1]})", BOOLEAN)

    def _compile_Like(self, expr: a.Like) -> TypedSql:
        value, pattern = self.compile(expr.value), self.compile(expr.pattern)
        for typed in (value, pattern):
            if typed.type is not None and typed.type != STRING:
                raise KsqlStatementException(
                    "The column type for Like condition must be VARCHAR. "
                    f"The column type is {typed.type}")
        escape = f" ESCAPE {quote_string(expr.escape)}" if expr.escape else ""
        negation = "NOT " if expr.negated else ""
        return TypedSql(f"({value.sql} {negation}LIKE {pattern.sql}{escape})", BOOLEAN)

    def _compile_Cast(self, expr: a.Cast) -> TypedSql:
        operand = self.compile(expr.operand)
        return TypedSql(cast_sql(operand.sql, operand.type, expr.type), expr.type)

    # ---- functions ---------------------------------------------------------------------------

    def _compile_FunctionCall(self, expr: a.FunctionCall) -> TypedSql:
        info = self.functions.get(expr.name)
        if info.kind != "scalar":
            raise KsqlStatementException(
                f"Use of aggregate function {expr.name} requires a GROUP BY clause."
                if info.kind == "aggregate" else
                f"Table function {expr.name} can only be used in the SELECT clause.")
        special = getattr(info, "special_form", None)
        if special is not None:
            return special(self, expr)
        volatile_before = self.uses_volatile
        self.uses_volatile = False
        if expr.name in VOLATILE_FUNCTIONS or getattr(info, "volatile", False):
            self.uses_volatile = True
        args = [self.compile(arg) for arg in expr.args]
        call = self.functions.resolve(expr.name, [arg.type for arg in args])
        args_sql = [arg.sql if target is None else cast_sql(arg.sql, arg.type, target)
                    for arg, target in zip(args, call.param_types)]
        sql = call.render(args_sql, list(call.param_types))
        # A function that fails on a record gives NULL for that call only, as a ksqlDB UDF's
        # exception does (IFNULL(PARSE_DATE(bad), ...) still yields its default).
        sql = sql if self.uses_volatile else f"TRY({sql})"
        self.uses_volatile |= volatile_before
        return TypedSql(sql, call.return_type)

    # ---- collections, CASE, IN: see structures.py ------------------------------------------

    _compile_Dereference = structures.compile_dereference
    _compile_Subscript = structures.compile_subscript
    _compile_ArrayConstructor = structures.compile_array
    _compile_MapConstructor = structures.compile_map
    _compile_StructConstructor = structures.compile_struct
    _compile_SearchedCase = structures.compile_searched_case
    _compile_SimpleCase = structures.compile_simple_case
    _compile_InList = structures.compile_in_list

    def _compile_Lambda(self, expr: a.Lambda) -> TypedSql:
        raise KsqlStatementException(
            f"Lambda expressions are only allowed as function arguments: {format_expression(expr)}")


def _type_name(t: Optional[SqlType]) -> str:
    return str(t) if t is not None else "null"


def _base(t: Optional[SqlType]) -> str:
    return t.base if t is not None else "null"


def arithmetic_sql(op: str, left: str, right: str, result: SqlType) -> str:
    """`left op right` computed as Java would for the result type (wrap-around, truncation)."""
    if result.base == "INTEGER":
        return wrap_int32(_integral_sql(op, f"CAST({left} AS BIGINT)", right))
    if result.base == "BIGINT":
        return wrap_int64(_integral_sql(op, f"CAST({left} AS HUGEINT)", right))
    if result.base == "DOUBLE":
        return f"(CAST({left} AS DOUBLE) {op} CAST({right} AS DOUBLE))"
    target = duckdb_type(result)
    if op == "/":
        return f"CAST(CAST({left} AS DOUBLE) / CAST(nullif({right}, 0) AS DOUBLE) AS {target})"
    if op == "%":
        return f"CAST({left} % nullif({right}, 0) AS {target})"
    return f"CAST({left} {op} {right} AS {target})"


def _integral_sql(op: str, wide_left: str, right: str) -> str:
    if op == "/":
        return f"({wide_left} // nullif({right}, 0))"
    if op == "%":
        return f"({wide_left} % nullif({right}, 0))"
    return f"({wide_left} {op} {right})"


def coerce_sql(typed: TypedSql, target: SqlType) -> TypedSql:
    """`typed` implicitly converted to `target` (INSERT VALUES, INSERT INTO), or ksqlDB's error."""
    coerced = structures.coerce(typed, target, None)
    if coerced is None:
        raise KsqlStatementException(f"Expected type {target} but got {typed.type}")
    return coerced


def evaluate_constant(expr: a.Expr) -> tuple[Any, Optional[SqlType]]:
    """A constant expression evaluated once: a Python value matching `to_arrow(type)`."""
    from pyksqlite.expressions.constants import evaluate
    return evaluate(expr)
