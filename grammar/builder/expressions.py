"""The builder's rules for expressions, literals and types, with ksqlDB's rules applied after
parsing: numeric literal ranges, lambda parameter lists, time units as the first argument of
the functions that take one (TIMESTAMPADD...), type aliases (INT, VARCHAR) and DECIMAL's
parameters.
"""
from __future__ import annotations

from lark import Transformer, v_args

from pyksqlite.grammar import ast
from pyksqlite.grammar.builder.tokens import Name, bounded_int, present, singular_unit, string_text
from pyksqlite.grammar.errors import ParseError


_TIME_UNITS = {"MILLISECOND", "SECOND", "MINUTE", "HOUR", "DAY"}
_INTERVAL_UNIT_FUNCTIONS = {"TIMESTAMPADD", "TIMESTAMPSUB", "DATEADD", "DATESUB", "TIMEADD", "TIMESUB"}

_TYPE_ALIASES = {"INT": "INTEGER", "VARCHAR": "STRING"}


@v_args(inline=True)
class ExpressionRules(Transformer):
    """Rules of expressions, literals and types (mixed into `AstBuilder`, which keeps the ids of
    the column references written quoted in `_quoted_columns`)."""

    # ---- expressions --------------------------------------------------------------------------

    def or_expr(self, left, right):
        return ast.LogicalBinary("OR", left, right)

    def and_expr(self, left, right):
        return ast.LogicalBinary("AND", left, right)

    def not_expr(self, operand):
        return ast.Not(operand)

    def comparison(self, left, operator, right):
        op = operator.children[0].value
        return ast.Comparison("<>" if op == "!=" else op, left, right)

    def is_null(self, operand, negated):
        return ast.IsNull(operand, bool(negated))

    def is_distinct_from(self, left, negated, right):
        op = "IS NOT DISTINCT FROM" if negated else "IS DISTINCT FROM"
        return ast.Comparison(op, left, right)

    def between(self, value, negated, low, high):
        return ast.Between(value, low, high, bool(negated))

    def in_list(self, value, negated, *items):
        return ast.InList(value, tuple(items), bool(negated))

    def like(self, value, negated, pattern, escape):
        return ast.Like(value, pattern, None if escape is None else string_text(escape),
                        bool(negated))

    def concatenation(self, left, right):
        return ast.ArithmeticBinary("||", left, right)

    def arithmetic_binary(self, left, operator, right):
        return ast.ArithmeticBinary(operator.children[0].value, left, right)

    def arithmetic_unary(self, operator, operand):
        return ast.ArithmeticUnary(operator.children[0].value, operand)

    def negative_integer(self, token):
        return _integer_literal("-" + token.value)

    def negative_decimal(self, token):
        return ast.DecimalLiteral("-" + token.value)

    def negative_double(self, token):
        return _double_literal("-" + token.value)

    def subscript(self, base, index):
        return ast.Subscript(base, index)

    def dereference(self, base, field):
        return ast.Dereference(base, str(field))

    def column(self, name):
        ref = ast.ColumnRef(str(name))
        if name.quoted:
            self._quoted_columns.add(id(ref))
        return ref

    def qualified_column(self, source, name):
        return ast.ColumnRef(str(name), str(source))

    def cast(self, operand, sql_type):
        return ast.Cast(operand, sql_type)

    def simple_case(self, operand, *whens_and_default):
        *whens, default = whens_and_default
        return ast.SimpleCase(operand, tuple(whens), default)

    def searched_case(self, *whens_and_default):
        *whens, default = whens_and_default
        return ast.SearchedCase(tuple(whens), default)

    def when_clause(self, condition, result):
        return ast.WhenClause(condition, result)

    def else_clause(self, expr):
        return expr

    def array_constructor(self, *items):
        return ast.ArrayConstructor(tuple(present(items)))

    def map_constructor(self, *entries):
        return ast.MapConstructor(tuple(present(entries)))

    def map_entry(self, key, value):
        return key, value

    def struct_constructor(self, *fields):
        return ast.StructConstructor(tuple(present(fields)))

    def struct_entry(self, name, value):
        return str(name), value

    def count_star(self, name):
        return ast.FunctionCall(name.upper(), star=True)

    def function_call(self, name, distinct, *arguments):
        args = tuple(present(arguments))
        if name.upper() in _INTERVAL_UNIT_FUNCTIONS and args:
            # Only these take a time unit (ksqlDB's INTERVALUNIT), as their first argument;
            # elsewhere SECOND and the like are columns (VAR_ARG(FIRST, SECOND)).
            args = (self._time_unit_or_expr(args[0]),) + args[1:]
        return ast.FunctionCall(name.upper(), args, distinct=bool(distinct))

    def function_argument(self, expr, body):
        if body is None:
            return expr
        if not isinstance(expr, ast.ColumnRef) or expr.source is not None:
            raise ParseError("Syntax Error: invalid lambda parameter list")
        return ast.Lambda((expr.name,), body)

    def multi_parameter_lambda(self, *params_and_body):
        *params, body = params_and_body
        return ast.Lambda(tuple(str(param) for param in params), body)

    def _time_unit_or_expr(self, expr: ast.Expr) -> ast.Expr:
        if (isinstance(expr, ast.ColumnRef) and expr.source is None
                and id(expr) not in self._quoted_columns
                and singular_unit(expr.name) in _TIME_UNITS):
            return ast.TimeUnitArg(singular_unit(expr.name))
        return expr

    # ---- literals -----------------------------------------------------------------------------

    def null_literal(self):
        return ast.NullLiteral()

    def true_literal(self):
        return ast.BooleanLiteral(True)

    def false_literal(self):
        return ast.BooleanLiteral(False)

    def string_literal(self, token):
        return ast.StringLiteral(string_text(token))

    def integer_literal(self, token):
        return _integer_literal(token.value)

    def decimal_literal(self, token):
        return ast.DecimalLiteral(token.value)

    def double_literal(self, token):
        return _double_literal(token.value)

    # ---- types --------------------------------------------------------------------------------

    def array_type(self, element):
        return ast.array(element)

    def map_type(self, key, value):
        return ast.map_of(key, value)

    def struct_type(self, *fields):
        return ast.struct(present(fields))

    def struct_field(self, name, sql_type):
        return str(name), sql_type

    def named_type(self, name, *parameters):
        return _named_type(name, present(parameters))

    def type_parameter(self, token):
        return token.value


def _integer_literal(text: str) -> ast.IntegerLiteral:
    return ast.IntegerLiteral(bounded_int(text, 63, "Invalid numeric literal"))


def _double_literal(text: str) -> ast.DoubleLiteral:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ParseError(f"Number overflows DOUBLE: {text}")
    return ast.DoubleLiteral(value)


def _named_type(name: Name, parameters: list[str]) -> ast.SqlType:
    base = _TYPE_ALIASES.get(name.upper(), name.upper()) if not name.quoted else str(name)
    if base == "DECIMAL":
        if len(parameters) != 2 or not all(p.isdigit() for p in parameters):
            raise ParseError("DECIMAL requires precision and scale, e.g. DECIMAL(4, 2)")
        precision, scale = (bounded_int(p, 31, "Invalid DECIMAL parameter") for p in parameters)
        invalid = ast.decimal_parameter_error(precision, scale)
        if invalid is not None:
            raise ParseError(invalid)
        return ast.decimal(precision, scale)
    if base in ("ARRAY", "MAP", "STRUCT"):   # the bare word (or `ARRAY` quoted): no element types
        raise ParseError(f"Syntax Error: {base} needs its element types, e.g. "
                         f"{ {'ARRAY': 'ARRAY<INT>', 'MAP': 'MAP<STRING, INT>', 'STRUCT': 'STRUCT<A INT>'}[base] }")
    # ksqlDB accepts and ignores parameters on other types, e.g. VARCHAR(STRING).
    return ast.SqlType(base)
