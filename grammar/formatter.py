"""AST back to SQL text as ksqlDB's ExpressionFormatter prints it, e.g. `(true + 1.5)`,
`SUM(VALUE)`, `MAP('a':=VAL1)`, `STRUCT(F0:=VAL1)`: for error messages, EXPLAIN and names.
"""
from __future__ import annotations

import re
from functools import singledispatch

from pyksqlite.grammar import ast as a

_PLAIN_IDENTIFIER = re.compile(r"^[A-Z_][A-Z0-9_@$]*$")


def format_identifier(name: str, always_quoted: bool = False) -> str:
    """A name as ksqlDB text: bare when a plain upper-case identifier (unless `always_quoted`),
    else back-quoted (a backtick inside doubled), so that the text parses back to the same name."""
    if _PLAIN_IDENTIFIER.match(name) and not always_quoted:
        return name
    return "`" + name.replace("`", "``") + "`"


def format_string(text: str) -> str:
    """A ksqlDB string literal holding `text` (a quote inside doubled)."""
    return "'" + text.replace("'", "''") + "'"


@singledispatch
def format_expression(expr: a.Expr) -> str:
    return type(expr).__name__


@format_expression.register
def _(expr: a.NullLiteral) -> str:
    return "null"


@format_expression.register
def _(expr: a.BooleanLiteral) -> str:
    return "true" if expr.value else "false"


@format_expression.register
def _(expr: a.IntegerLiteral) -> str:
    return str(expr.value)


@format_expression.register
def _(expr: a.DecimalLiteral) -> str:
    return expr.text


@format_expression.register
def _(expr: a.DoubleLiteral) -> str:
    return repr(expr.value).upper().replace("E+", "E")


@format_expression.register
def _(expr: a.StringLiteral) -> str:
    return format_string(expr.value)


@format_expression.register
def _(expr: a.ColumnRef) -> str:
    column = format_identifier(expr.name)
    return f"{format_identifier(expr.source)}.{column}" if expr.source else column


@format_expression.register
def _(expr: a.Dereference) -> str:
    return f"{format_expression(expr.base)}->{format_identifier(expr.field)}"


@format_expression.register
def _(expr: a.Subscript) -> str:
    return f"{format_expression(expr.base)}[{format_expression(expr.index)}]"


@format_expression.register
def _(expr: a.ArithmeticUnary) -> str:
    return f"{expr.op}{format_expression(expr.operand)}"


@format_expression.register(a.ArithmeticBinary)
@format_expression.register(a.Comparison)
@format_expression.register(a.LogicalBinary)
def _(expr) -> str:
    return f"({format_expression(expr.left)} {expr.op} {format_expression(expr.right)})"


@format_expression.register
def _(expr: a.Not) -> str:
    return f"(NOT {format_expression(expr.operand)})"


@format_expression.register
def _(expr: a.IsNull) -> str:
    return f"({format_expression(expr.operand)} IS {'NOT ' if expr.negated else ''}NULL)"


@format_expression.register
def _(expr: a.Between) -> str:
    negation = "NOT " if expr.negated else ""
    return (f"({format_expression(expr.value)} {negation}BETWEEN {format_expression(expr.low)} "
            f"AND {format_expression(expr.high)})")


@format_expression.register
def _(expr: a.InList) -> str:
    items = ", ".join(format_expression(item) for item in expr.items)
    return f"({format_expression(expr.value)} {'NOT ' if expr.negated else ''}IN ({items}))"


@format_expression.register
def _(expr: a.Like) -> str:
    escape = f" ESCAPE '{expr.escape}'" if expr.escape else ""
    negation = "NOT " if expr.negated else ""
    return f"({format_expression(expr.value)} {negation}LIKE {format_expression(expr.pattern)}{escape})"


@format_expression.register
def _(expr: a.Cast) -> str:
    return f"CAST({format_expression(expr.operand)} AS {expr.type})"


def _format_whens(whens) -> str:
    return " ".join(f"WHEN {format_expression(w.condition)} THEN {format_expression(w.result)}"
                    for w in whens)


@format_expression.register
def _(expr: a.SearchedCase) -> str:
    default = f" ELSE {format_expression(expr.default)}" if expr.default else ""
    return f"(CASE {_format_whens(expr.whens)}{default} END)"


@format_expression.register
def _(expr: a.SimpleCase) -> str:
    default = f" ELSE {format_expression(expr.default)}" if expr.default else ""
    return f"(CASE {format_expression(expr.operand)} {_format_whens(expr.whens)}{default} END)"


@format_expression.register
def _(expr: a.TimeUnitArg) -> str:
    return expr.unit


@format_expression.register
def _(expr: a.FunctionCall) -> str:
    if expr.star:
        return f"{expr.name}(*)"
    distinct = "DISTINCT " if expr.distinct else ""
    return f"{expr.name}({distinct}{', '.join(format_expression(x) for x in expr.args)})"


@format_expression.register
def _(expr: a.Lambda) -> str:
    return f"({', '.join(expr.params)}) => {format_expression(expr.body)}"


@format_expression.register
def _(expr: a.ArrayConstructor) -> str:
    return f"ARRAY[{', '.join(format_expression(x) for x in expr.items)}]"


@format_expression.register
def _(expr: a.MapConstructor) -> str:
    entries = ", ".join(f"{format_expression(k)}:={format_expression(v)}" for k, v in expr.entries)
    return f"MAP({entries})"


@format_expression.register
def _(expr: a.StructConstructor) -> str:
    fields = ", ".join(f"{format_identifier(n)}:={format_expression(v)}" for n, v in expr.fields)
    return f"STRUCT({fields})"


def quote_identifier(name: str) -> str:
    """A name as ksqlDB prints it: bare when a plain upper-case identifier, else back-quoted."""
    return format_identifier(name)
