"""ksqlDB's implicit type coercion: the one place that decides which types convert to which
without a CAST, and the common type of a list of expressions.

The rules are ksqlDB's (docs: reference/type-coercion; code: `DefaultSqlValueCoercer`,
`CoercionUtil`, `SqlBaseType.canImplicitlyCast`, `DecimalUtil`):

* `coerce_type(source, target, lax)`: the type that holds both. Numbers widen INT -> BIGINT ->
  DECIMAL -> DOUBLE (a DECIMAL widens to the precision and scale that hold both sides), a
  STRING converts to DATE, TIME, TIMESTAMP and BYTES, ARRAY and MAP convert element-wise and a
  STRUCT to the union of both structs' fields. Literals (`lax`) may also convert to STRING, and a
  STRING literal to BOOLEAN and the numbers.
* `common_type(items)`: the type a list of expressions (IN, ARRAY[...], MAP(...), the operands
  of a collection comparison) converts to: a left fold of the rule above over the non-NULL items, where
  a string literal takes the numeric type wide enough for its number and a constructor is
  resolved element by element against the type so far. Errors are ksqlDB's
  `operator does not exist: T = S (expr)` and `invalid input syntax for type T: "text".`
* `base_casts_implicitly(source, target)`: a function argument's implicit cast (base types only).
* `insert_compatible(source, target)`: INSERT INTO a sink, where only DECIMAL widens.

Where ksqlDB converts nothing, neither does ksqlite: CASE branches and a generic function's
arguments (COALESCE, IFNULL) must be of one type.

Nothing here builds SQL; `structures.convert` applies a decision to compiled SQL.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Callable, Optional, Sequence

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.grammar import ast as a
from pyksqlite.grammar.ast import BIGINT, DOUBLE, INTEGER, SqlType, array, decimal, map_of, struct
from pyksqlite.grammar.formatter import format_expression

NUMERIC_ORDER = ("INTEGER", "BIGINT", "DECIMAL", "DOUBLE")
TEMPORAL = ("TIMESTAMP", "TIME", "DATE")
LITERALS = (a.NullLiteral, a.BooleanLiteral, a.IntegerLiteral, a.DecimalLiteral, a.DoubleLiteral,
            a.StringLiteral)
_INT_MIN, _INT_MAX = -(2 ** 31), 2 ** 31 - 1
_LONG_MIN, _LONG_MAX = -(2 ** 63), 2 ** 63 - 1


class InvalidCoercion(KsqlStatementException):
    """Two types in one list have no common type (ksqlDB's InvalidCoercionException)."""


# ---- decimals ------------------------------------------------------------------------------

def to_decimal_type(t: SqlType) -> SqlType:
    """The DECIMAL holding every value of an integral or DECIMAL type: INT is DECIMAL(10, 0),
    BIGINT DECIMAL(19, 0)."""
    if t.base == "INTEGER":
        return decimal(10, 0)
    if t.base == "BIGINT":
        return decimal(19, 0)
    if t.base == "DECIMAL":
        return t
    raise KsqlStatementException(f"Cannot convert {t} to DECIMAL")


def widen_decimal(left: SqlType, right: SqlType) -> SqlType:
    """The DECIMAL holding both: the most integral digits and the largest scale."""
    left, right = to_decimal_type(left), to_decimal_type(right)
    scale = max(left.scale, right.scale)
    integral = max(left.precision - left.scale, right.precision - right.scale)
    return decimal(integral + scale, scale)


def decimal_fits(source: SqlType, target: SqlType) -> bool:
    """Whether every `source` DECIMAL value fits `target` without rounding."""
    return (source.precision - source.scale <= target.precision - target.scale
            and source.scale <= target.scale)


def decimal_type_of_value(value: Decimal) -> SqlType:
    """ksqlDB's type of a decimal number: its digits and scale, where a value in (-1, 1) has one
    more digit than its scale (`0.05` is DECIMAL(3, 2)) and a negative scale counts as 0."""
    sign, digits, exponent = value.as_tuple()
    scale = max(-exponent, 0)
    if exponent > 0:
        digits = digits + (0,) * exponent
    if abs(value) < 1:
        return decimal(scale + 1, scale)
    significant = len(digits) - next((i for i, d in enumerate(digits) if d), len(digits) - 1)
    return decimal(max(significant, scale, 1), scale)


def string_number_type(text: str) -> SqlType:
    """The type of the number a string literal holds: INTEGER or BIGINT for an integer strictly
    inside their ranges (written without point or exponent), else the DECIMAL of its value.
    Raises ValueError when the text is not a number."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    plain = not any(ch in text for ch in ".eE")
    if plain and value == value.to_integral_value():
        number = int(value)
        if _INT_MIN < number < _INT_MAX:
            return INTEGER
        if _LONG_MIN < number < _LONG_MAX:
            return BIGINT
    return decimal_type_of_value(value)


# ---- booleans ------------------------------------------------------------------------------

def parse_boolean(text: str) -> Optional[bool]:
    """ksqlDB's exact boolean text: `true`/`yes`/`false`/`no` or a prefix of one, any case."""
    word = text.strip().lower()
    if word and any(v.startswith(word) for v in ("true", "yes")):
        return True
    if word and any(v.startswith(word) for v in ("false", "no")):
        return False
    return None


# ---- coercion of one type to another -------------------------------------------------------

def is_number(t: SqlType) -> bool:
    return t.base in NUMERIC_ORDER


_LAX_TO_STRING = ("BOOLEAN", "INTEGER", "BIGINT", "DECIMAL", "DOUBLE") + TEMPORAL
_LAX_FROM_STRING = ("BOOLEAN", "INTEGER", "BIGINT", "DECIMAL", "DOUBLE")
_STRICT_FROM_STRING = TEMPORAL + ("BYTES",)


def coerce_type(source: SqlType, target: SqlType, lax: bool = False) -> Optional[SqlType]:
    """The type values of `source` take when converted towards `target`, or None if they cannot
    be. `lax` adds the conversions allowed for literals."""
    s, t = source.base, target.base
    if is_number(source) and is_number(target):
        return _coerce_number(source, target)
    if s == t == "ARRAY":
        element = coerce_type(source.element, target.element, lax)
        return array(element) if element else None
    if s == t == "MAP":
        key = coerce_type(source.key, target.key, lax)
        value = coerce_type(source.value, target.value, lax)
        return map_of(key, value) if key and value else None
    if s == t == "STRUCT":
        return _coerce_struct(source, target, lax)
    if s == t:
        return target
    if s == "STRING" and t in _STRICT_FROM_STRING:
        return target
    if lax and (t == "STRING" and s in _LAX_TO_STRING or s == "STRING" and t in _LAX_FROM_STRING):
        return target
    return None


def _coerce_number(source: SqlType, target: SqlType) -> Optional[SqlType]:
    rank_s, rank_t = NUMERIC_ORDER.index(source.base), NUMERIC_ORDER.index(target.base)
    if rank_s > rank_t:
        return None
    if target.base == "DECIMAL":
        return widen_decimal(source, target)
    return target


def _coerce_struct(source: SqlType, target: SqlType, lax: bool) -> Optional[SqlType]:
    source_fields, target_fields = dict(source.fields), dict(target.fields)
    names = list(dict.fromkeys([n for n, _ in source.fields] + [n for n, _ in target.fields]))
    fields = []
    for name in names:
        if name not in source_fields:
            fields.append((name, target_fields[name]))
        elif name not in target_fields:
            fields.append((name, source_fields[name]))
        else:
            common = coerce_type(source_fields[name], target_fields[name], lax)
            if common is None:
                return None
            fields.append((name, common))
    return struct(fields)


def common_of_two(left: SqlType, right: SqlType, lax: bool = False) -> Optional[SqlType]:
    """The type both convert to: `right` converted towards `left`, else the other way round."""
    return coerce_type(right, left, lax) or coerce_type(left, right, lax)


# ---- implicit casts of function arguments and INSERT INTO ---------------------------------

def base_casts_implicitly(source: str, target: str) -> bool:
    """ksqlDB's SqlBaseType.canImplicitlyCast: a number to a wider number, a STRING to a
    temporal type or BYTES, or the same base type."""
    if source == target:
        return True
    if source in NUMERIC_ORDER and target in NUMERIC_ORDER:
        return NUMERIC_ORDER.index(source) <= NUMERIC_ORDER.index(target)
    return source == "STRING" and target in TEMPORAL + ("BYTES",)


def insert_compatible(source: SqlType, target: SqlType) -> bool:
    """Whether a query column of type `source` may feed a sink column of type `target`:
    equal types, or a DECIMAL that fits the sink's DECIMAL."""
    if source.base == target.base == "DECIMAL":
        return decimal_fits(source, target)
    return source == target


# ---- the common type of a list of expressions ----------------------------------------------

TypeOf = Callable[[a.Expr], Optional[SqlType]]


def common_type(items: Sequence[tuple[a.Expr, Optional[SqlType]]], type_of: TypeOf) -> Optional[SqlType]:
    """The type every expression of the list converts to (None when all are NULL), or ksqlDB's
    error. `items` pairs each expression with its type; `type_of` types a sub-expression of an
    ARRAY/MAP/STRUCT constructor."""
    result: Optional[SqlType] = None
    for expr, expr_type in items:
        result = _fold(expr, expr_type, result, type_of)
    return result


def _fold(expr: a.Expr, expr_type: Optional[SqlType], so_far: Optional[SqlType],
          type_of: TypeOf) -> Optional[SqlType]:
    if so_far is None:
        return expr_type
    if expr_type is None:
        return so_far
    if isinstance(expr, a.ArrayConstructor):
        return _fold_array(expr, expr_type, so_far, type_of)
    if isinstance(expr, a.MapConstructor):
        return _fold_map(expr, expr_type, so_far, type_of)
    if isinstance(expr, a.StructConstructor):
        return _fold_struct(expr, expr_type, so_far, type_of)
    if isinstance(expr, a.StringLiteral):
        if is_number(so_far):
            return _number_from_string(expr.value, so_far)
        if so_far.base == "BOOLEAN":
            if parse_boolean(expr.value) is None:
                raise invalid_syntax(expr.value, so_far)
            return so_far
    lax = isinstance(expr, LITERALS)
    common = common_of_two(so_far, expr_type, lax)
    if common is None:
        raise mismatch(expr, expr_type, so_far)
    return common


def _number_from_string(text: str, so_far: SqlType) -> SqlType:
    try:
        number_type = string_number_type(text)
    except ValueError:
        raise invalid_syntax(text, so_far) from None
    if DOUBLE in (number_type, so_far):
        return DOUBLE
    if "DECIMAL" in (number_type.base, so_far.base):
        return widen_decimal(number_type, so_far)
    return so_far if base_casts_implicitly(number_type.base, so_far.base) else number_type


def _elements_common(target: SqlType, exprs: Sequence[a.Expr], type_of: TypeOf) -> SqlType:
    """The element type of a constructor's items resolved against the element type so far."""
    typed = [(e, type_of(e)) for e in exprs]
    return common_type([(a.NullLiteral(), target)] + typed, type_of) or target


def _fold_array(expr, expr_type, so_far, type_of):
    if so_far.base != "ARRAY":
        raise mismatch(expr, expr_type, so_far)
    try:
        return array(_elements_common(so_far.element, expr.items, type_of))
    except InvalidCoercion:
        raise mismatch(expr, expr_type, so_far) from None


def _fold_map(expr, expr_type, so_far, type_of):
    if so_far.base != "MAP":
        raise mismatch(expr, expr_type, so_far)
    try:
        key = _elements_common(so_far.key, [k for k, _ in expr.entries], type_of)
        value = _elements_common(so_far.value, [v for _, v in expr.entries], type_of)
    except InvalidCoercion:
        raise mismatch(expr, expr_type, so_far) from None
    return map_of(key, value)


def _fold_struct(expr, expr_type, so_far, type_of):
    if so_far.base != "STRUCT":
        raise mismatch(expr, expr_type, so_far)
    given = dict(expr.fields)
    known = dict(so_far.fields)
    names = list(dict.fromkeys([n for n, _ in expr.fields] + [n for n, _ in so_far.fields]))
    fields = []
    try:
        for name in names:
            if name not in known:
                fields.append((name, type_of(given[name])))
            elif name not in given:
                fields.append((name, known[name]))
            else:
                value_type = type_of(given[name])
                fields.append((name, _fold(given[name], value_type, known[name], type_of)
                               if value_type is not None else known[name]))
    except InvalidCoercion:
        raise mismatch(expr, expr_type, so_far) from None
    return struct(fields)


# ---- messages ----------------------------------------------------------------------------------

def mismatch(expr: a.Expr, expr_type: SqlType, so_far: SqlType) -> InvalidCoercion:
    return InvalidCoercion(f"operator does not exist: {so_far} = {expr_type} "
                           f"({format_expression(expr)})\nHint: You might need to add explicit type casts.")


def invalid_syntax(text: str, target: SqlType) -> KsqlStatementException:
    return KsqlStatementException(f'invalid input syntax for type {target.base}: "{text}".')
