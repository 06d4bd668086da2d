"""Types in Python UDF declarations, and the Python values UDFs receive and return.

A declared type is a ksqlDB type name (`"BIGINT"`, `"ARRAY<STRING>"`, `"STRUCT<A INT>"`,
`"DECIMAL(10, 2)"`) or a generic one, as ksqlDB's Java UDFs declare them:
* `"DECIMAL"` without precision: any DECIMAL (ksqlDB's `BigDecimal` parameter);
* `"ANY"`: any type, binding nothing (ksqlDB's `Object`);
* a name that is not a SQL type, alone or inside ARRAY/MAP/STRUCT (`"T"`, `"ARRAY<T>"`,
  `"MAP<K, V>"`): a type variable, bound per call to the argument's type, so that a return type
  `"ARRAY<T>"` follows the arguments (ksqlDB's generics);
* a trailing `...` (`"STRING..."`) marks the variadic parameter, in any position.

Values: per-row functions and aggregates get plain Python values (None, bool, int, float,
Decimal, str, bytes, list, dict for MAP and STRUCT, datetime types for DATE/TIME/TIMESTAMP) and
return the same kinds; vectorized functions get and return `pyarrow.Array`s.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

from pyksqlite.common.errors import KsqlException
from pyksqlite.expressions.functions import TypeVariable, has_generics
from pyksqlite.grammar.ast import SqlType

TypeSpec = Union[str, SqlType]
ReturnSpec = Union[TypeSpec, Callable[[list], SqlType]]
ANY = "ANY"
VARIADIC_MARK = "..."
_SQL_TYPES = {"BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "DECIMAL", "STRING", "BYTES", "DATE", "TIME",
              "TIMESTAMP", "ARRAY", "MAP", "STRUCT"}


def parse_params(specs, where: str) -> tuple[tuple, Optional[int]]:
    """(parameter types, index of the variadic one or None) of a declaration's `params`."""
    types, variadic = [], []
    for index, spec in enumerate(specs):
        text = spec.strip() if isinstance(spec, str) else spec
        if isinstance(text, str) and text.endswith(VARIADIC_MARK):
            variadic.append(index)
            text = text[:-len(VARIADIC_MARK)].strip()
        types.append(parse_param(text))
    if len(variadic) > 1:
        raise KsqlException(f"{where}: only one parameter may be variadic, got {len(variadic)}.")
    return tuple(types), (variadic[0] if variadic else None)


def parse_param(spec: TypeSpec):
    """One parameter type: a SqlType (maybe generic), or "ANY"."""
    if isinstance(spec, SqlType):
        return spec
    text = spec.strip()
    if text.upper() == ANY:
        return ANY
    if text.upper() == "DECIMAL":
        return SqlType("DECIMAL")
    return _generify(_parse(text))


def parse_return(spec: ReturnSpec):
    """A declared return (or UDAF aggregate) type: a SqlType, generic or not, or a schema
    provider: a function of the call's argument types returning a SqlType (ksqlDB's
    `@UdfSchemaProvider`)."""
    if callable(spec) and not isinstance(spec, (str, SqlType)):
        return spec
    parsed = parse_param(spec)
    if parsed == ANY or (isinstance(parsed, SqlType) and parsed.base == "DECIMAL" and parsed.precision is None):
        raise KsqlException(f"A return type must be concrete or generic (T, ARRAY<T>...), not {spec}: "
                            "give a schema provider function to compute it from the arguments.")
    return parsed


def _parse(text: str) -> SqlType:
    from pyksqlite.grammar.parser import parse_type
    return parse_type(text)


def _generify(t: SqlType) -> SqlType:
    """Names that are no SQL type become type variables (T, K, V...)."""
    if t.base not in _SQL_TYPES:
        return TypeVariable(t.base.upper())
    if t.base == "ARRAY":
        return SqlType("ARRAY", element=_generify(t.element))
    if t.base == "MAP":
        return SqlType("MAP", key=_generify(t.key), value=_generify(t.value))
    if t.base == "STRUCT":
        return SqlType("STRUCT", fields=tuple((name, _generify(ft)) for name, ft in t.fields))
    return t


def is_generic(param) -> bool:
    """Whether a parameter's concrete type depends on the call (ANY, DECIMAL, type variables)."""
    if param == ANY:
        return True
    return has_generics(param) or (param.base == "DECIMAL" and param.precision is None)


# ---- values ---------------------------------------------------------------------------------

def needs_conversion(t: Optional[SqlType]) -> bool:
    """Whether Arrow's Python values of `t` differ from the UDF's (a MAP is a dict, not pairs)."""
    if t is None:
        return False
    if t.base == "MAP":
        return True
    if t.base == "ARRAY":
        return needs_conversion(t.element)
    if t.base == "STRUCT":
        return any(needs_conversion(ft) for _, ft in t.fields or ())
    return False


def to_python(value: Any, t: Optional[SqlType]) -> Any:
    """One value as Arrow's `to_pylist` gives it, as a UDF receives it."""
    if value is None or not needs_conversion(t):
        return value
    if t.base == "MAP":
        return {k: to_python(v, t.value) for k, v in value}
    if t.base == "ARRAY":
        return [to_python(v, t.element) for v in value]
    return {name: to_python(value.get(name), ft) for name, ft in t.fields}


def column_to_python(values: list, t: Optional[SqlType]) -> list:
    """A column's `to_pylist` values as a UDF receives them (no copy when nothing changes)."""
    if not needs_conversion(t):
        return values
    return [to_python(v, t) for v in values]
