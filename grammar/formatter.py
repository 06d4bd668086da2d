"""AST back to SQL text, as ksqlDB's ExpressionFormatter prints it (`(A + B)`, `'text'`, `S->F`).

Used for EXPLAIN, for error messages that quote an expression, and for generated names.
"""
from __future__ import annotations

from functools import singledispatch

from grammar import ast

_COMPARISON_NAMES = {"=": "EQUAL", "<>": "NOT_EQUAL", "<": "LESS_THAN", "<=": "LESS_THAN_OR_EQUAL",
                     ">": "GREATER_THAN", ">=": "GREATER_THAN_OR_EQUAL",
                     "IS DISTINCT FROM": "IS_DISTINCT_FROM", "IS NOT DISTINCT FROM": "IS_NOT_DISTINCT_FROM"}


def comparison_name(op: str) -> str:
    """ksqlDB's name of a comparison operator, as its error messages use it (EQUAL, ...)."""
    return _COMPARISON_NAMES.get(op, op)


def quote_identifier(name: str) -> str:
    """A name as ksqlDB prints it: bare when it is a plain upper-case identifier, else back-quoted."""
    if name and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c == "_" for c in name) \
            and name == name.upper():
        return name
    return f"`{name}`"


def format_expression(expr: ast.Expr) -> str:
    return _fmt(expr)


@singledispatch
def _fmt(expr) -> str:
    return repr(expr)


@_fmt.register
def _(expr: ast.NullLiteral) -> str:
    return "null"


@_fmt.register
def _(expr: ast.BooleanLiteral) -> str:
    return "true" if expr.value else "false"


@_fmt.register
def _(expr: ast.IntegerLiteral) -> str:
    return str(expr.value)


@_fmt.register
def _(expr: ast.DecimalLiteral) -> str:
    return expr.text


@_fmt.register
def _(expr: ast.DoubleLiteral) -> str:
    return repr(expr.value).replace("e", "E")


@_fmt.register
def _(expr: ast.StringLiteral) -> str:
    return "'" + expr.value.replace("'", "''") + "'"


@_fmt.register
def _(expr: ast.ColumnRef) -> str:
    name = quote_identifier(expr.name)
    return f"{quote_identifier(expr.source)}.{name}" if expr.source else name


@_fmt.register
def _(expr: ast.Dereference) -> str:
    return f"{_fmt(expr.base)}->{quote_identifier(expr.field)}"


@_fmt.register
def _(expr: ast.Subscript) -> str:
    return f"{_fmt(expr.base)}[{_fmt(expr.index)}]"


@_fmt.register
def _(expr: ast.ArithmeticUnary) -> str:
    return f"{expr.op}{_fmt(expr.operand)}"


@_fmt.register
def _(expr: ast.ArithmeticBinary) -> str:
    return f"({_fmt(expr.left)} {expr.op} {_fmt(expr.right)})"


@_fmt.register
def _(expr: ast.Comparison) -> str:
    return f"({_fmt(expr.left)} {expr.op} {_fmt(expr.right)})"


@_fmt.register
def _(expr: ast.LogicalBinary) -> str:
    return f"({_fmt(expr.left)} {expr.op} {_fmt(expr.right)})"


@_fmt.register
def _(expr: ast.Not) -> str:
    return f"(NOT {_fmt(expr.operand)})"


@_fmt.register
def _(expr: ast.IsNull) -> str:
    return f"({_fmt(expr.operand)} IS {'NOT ' if expr.negated else ''}NULL)"


@_fmt.register
def _(expr: ast.Between) -> str:
    neg = "NOT " if expr.negated else ""
    return f"({_fmt(expr.value)} {neg}BETWEEN {_fmt(expr.low)} AND {_fmt(expr.high)})"


@_fmt.register
def _(expr: ast.InList) -> str:
    neg = "NOT " if expr.negated else ""
    return f"({_fmt(expr.value)} {neg}IN ({', '.join(_fmt(i) for i in expr.items)}))"


@_fmt.register
def _(expr: ast.Like) -> str:
    neg = "NOT " if expr.negated else ""
    escape = f" ESCAPE '{expr.escape}'" if expr.escape else ""
    return f"({_fmt(expr.value)} {neg}LIKE {_fmt(expr.pattern)}{escape})"


@_fmt.register
def _(expr: ast.Cast) -> str:
    return f"CAST({_fmt(expr.operand)} AS {expr.type})"


@_fmt.register
def _(expr: ast.SearchedCase) -> str:
    whens = " ".join(f"WHEN {_fmt(w.condition)} THEN {_fmt(w.result)}" for w in expr.whens)
    default = f" ELSE {_fmt(expr.default)}" if expr.default is not None else ""
    return f"(CASE {whens}{default} END)"


@_fmt.register
def _(expr: ast.SimpleCase) -> str:
    whens = " ".join(f"WHEN {_fmt(w.condition)} THEN {_fmt(w.result)}" for w in expr.whens)
    default = f" ELSE {_fmt(expr.default)}" if expr.default is not None else ""
    return f"(CASE {_fmt(expr.operand)} {whens}{default} END)"


@_fmt.register
def _(expr: ast.TimeUnitArg) -> str:
    return expr.unit + "S"


@_fmt.register
def _(expr: ast.FunctionCall) -> str:
    if expr.star:
        return f"{expr.name}(*)"
    return f"{expr.name}({', '.join(_fmt(a) for a in expr.args)})"


@_fmt.register
def _(expr: ast.Lambda) -> str:
    params = expr.params[0] if len(expr.params) == 1 else f"({', '.join(expr.params)})"
    return f"{params} => {_fmt(expr.body)}"


@_fmt.register
def _(expr: ast.ArrayConstructor) -> str:
    return f"ARRAY[{', '.join(_fmt(i) for i in expr.items)}]"


@_fmt.register
def _(expr: ast.MapConstructor) -> str:
    return f"MAP({', '.join(f'{_fmt(k)}:={_fmt(v)}' for k, v in expr.entries)})"


@_fmt.register
def _(expr: ast.StructConstructor) -> str:
    return f"STRUCT({', '.join(f'{quote_identifier(n)}:={_fmt(v)}' for n, v in expr.fields)})"
