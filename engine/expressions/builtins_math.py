"""ksqlDB's mathematical functions: trigonometry, logarithms, POWER/CBRT, ROUND/TRUNC with a
scale, GREATEST/LEAST over every comparable type, PI and GEO_DISTANCE.

Java's `Math` returns NaN/Infinity where DuckDB does too, so most map directly. ROUND rounds half
towards positive infinity (ksqlDB: HALF_UP for positives, HALF_DOWN for negatives) on the exact
decimal value of a DOUBLE (`BigDecimal.valueOf`), which DuckDB's `round` (half away from zero,
binary) does not: those are SQL expressions over a DECIMAL view of the value.
"""
from __future__ import annotations

import re
from typing import Optional

from pyksqlite.common.duck import quote_string
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.builtins_common import fail_sql
from pyksqlite.expressions.typing_rules import duckdb_type
from pyksqlite.grammar import ast as a
from pyksqlite.grammar.ast import (BIGINT, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME, TIMESTAMP, SqlType,
                         decimal)

ANY_DECIMAL = SqlType("DECIMAL")
CATEGORY = dict(category="MATHEMATICAL")
# An exact decimal view of a DOUBLE: its shortest text read as DECIMAL (|v| < 1e18 only).
_EXACT_DECIMAL = "DECIMAL(38, 18)"


def register_math(registry) -> None:
    _register_unary_doubles(registry)
    _register_logs_and_powers(registry)
    _register_round(registry)
    _register_trunc(registry)
    _register_greatest_least(registry)
    _register_geo_distance(registry)
    registry.register("PI", (), DOUBLE, "pi()", description="The value of pi.", **CATEGORY)
    for t in (INTEGER, BIGINT):
        registry.register("SIGN", (t,), INTEGER, "CAST(sign({0}) AS INTEGER)", **CATEGORY)


def _register_unary_doubles(registry) -> None:
    """f(DOUBLE) -> DOUBLE; INT and BIGINT arguments widen to DOUBLE."""
    functions = {
        "ACOS": "acos({0})", "ASIN": "asin({0})", "ATAN": "atan({0})", "COS": "cos({0})",
        "COT": "(1.0 / tan({0}))", "SIN": "sin({0})", "TAN": "tan({0})",
        "COSH": "cosh({0})", "SINH": "sinh({0})",
        "TANH": "tanh({0})", "DEGREES": "degrees({0})", "RADIANS": "radians({0})",
        "CBRT": "cbrt({0})",
    }
    for name, template in functions.items():
        registry.register(name, (DOUBLE,), DOUBLE, template,
                          description=f"The {name.lower()} of a number.", **CATEGORY)
    registry.register("ATAN2", (DOUBLE, DOUBLE), DOUBLE, "atan2({0}, {1})",
                      description="The angle of the point (x, y) for atan2(y, x).", **CATEGORY)


def _register_logs_and_powers(registry) -> None:
    registry.register("LOG", (DOUBLE,), DOUBLE, "ln({0})",
                      description="The natural logarithm; LOG(base, value) for another base.",
                      **CATEGORY)
    # Java: ln(value) / ln(base), except a base <= 0 or 1 and a negative value give NaN.
    registry.register("LOG", (DOUBLE, DOUBLE), DOUBLE,
                      "CASE WHEN {0} <= 0 OR {0} = 1 OR {1} < 0 THEN CAST('NaN' AS DOUBLE) "
                      "ELSE ln({1}) / ln({0}) END", **CATEGORY)
    registry.register("POWER", (DOUBLE, DOUBLE), DOUBLE, "pow({0}, {1})",
                      description="A base raised to an exponent.", **CATEGORY)


# ---- ROUND and TRUNC --------------------------------------------------------------------------

def literal_int(sql: str) -> Optional[int]:
    """The integer a compiled integer literal (`CAST(2 AS INTEGER)`, `-2`) stands for, else None."""
    match = re.fullmatch(r"\(?-?\s*(?:CAST\()?\s*(-?\d+)(?: AS \w+\))?\)?", sql.strip())
    if not match:
        return None
    value = int(match.group(1))
    return -value if sql.strip().startswith(("(-", "-")) and value > 0 else value


def _round_half_up_decimal(value: str, scale: int) -> str:
    """DECIMAL `value` rounded half towards +infinity at a constant `scale`."""
    rounded = f"round({value}, {scale})"
    half = f"CAST({quote_string(_half_unit(scale))} AS DECIMAL(38, {max(scale + 1, 1)}))"
    unit = f"CAST({quote_string(_unit(scale))} AS DECIMAL(38, {max(scale, 0)}))"
    return (f"(CASE WHEN {value} < 0 AND {rounded} - {value} = -{half} "
            f"THEN {rounded} + {unit} ELSE {rounded} END)")


def _unit(scale: int) -> str:
    return f"{10 ** -scale}" if scale <= 0 else "0." + "0" * (scale - 1) + "1"


def _half_unit(scale: int) -> str:
    return f"{5 * 10 ** (-scale - 1)}" if scale < 0 else "0." + "0" * scale + "5"


def _exact(value: str) -> str:
    return f"CAST(CAST({value} AS VARCHAR) AS {_EXACT_DECIMAL})"


def _double_by_scale(value: str, scale_sql: str, exact_op, approximate_op) -> str:
    """A DOUBLE rounded/truncated at a scale: exactly via DECIMAL when the scale is constant
    and the value small enough, else in binary floating point."""
    scale = literal_int(scale_sql)
    approximate = approximate_op(value, scale_sql)
    if scale is None or scale > 17:
        return f"(({approximate}) + 0.0)"
    exact = f"CAST({exact_op(_exact(value), scale)} AS DOUBLE)"
    return (f"(CASE WHEN isfinite({value}) AND abs({value}) < 1e18 THEN {exact} "
            f"ELSE {approximate} END + 0.0)")


def _approx_round(value: str, scale: str) -> str:
    factor = f"pow(10.0, {scale})"
    return f"floor({value} * {factor} + 0.5) / {factor}"


def _approx_trunc(value: str, scale: str) -> str:
    factor = f"pow(10.0, {scale})"
    return f"trunc({value} * {factor}) / {factor}"


def _decimal_by_scale(op_name: str):
    """ROUND/TRUNC(DECIMAL, scale): the input's type; the scale must be constant in DuckDB."""
    def render(args, types):
        scale = literal_int(args[1])
        if scale is None:
            raise KsqlStatementException(
                f"{op_name}(DECIMAL, scale) needs a constant scale in ksqlite.")
        target = duckdb_type(types[0])
        body = (_round_half_up_decimal(args[0], scale) if op_name == "ROUND"
                else f"trunc({args[0]}, {scale})")
        return f"CAST({body} AS {target})"
    return render


def _integral_decimal(types):
    t = types[0]
    return decimal(max(t.precision - t.scale, 1), 0)


def _register_round(registry) -> None:
    registry.clear_variants("ROUND")
    reg = registry.register
    reg("ROUND", (INTEGER,), INTEGER, "{0}", description="Round half up (towards +infinity).",
        **CATEGORY)
    reg("ROUND", (BIGINT,), BIGINT, "{0}", **CATEGORY)
    reg("ROUND", (DOUBLE,), BIGINT, "CAST(floor({0} + 0.5) AS BIGINT)", **CATEGORY)
    reg("ROUND", (DOUBLE, INTEGER), DOUBLE,
        lambda a, t: _double_by_scale(a[0], a[1], _round_half_up_decimal, _approx_round),
        **CATEGORY)
    reg("ROUND", (ANY_DECIMAL,), _integral_decimal,
        lambda a, t: f"CAST({_round_half_up_decimal(a[0], 0)} AS "
                     f"{duckdb_type(_integral_decimal(t))})", **CATEGORY)
    reg("ROUND", (ANY_DECIMAL, INTEGER), lambda t: t[0], _decimal_by_scale("ROUND"), **CATEGORY)


def _register_trunc(registry) -> None:
    reg = registry.register
    reg("TRUNC", (INTEGER,), INTEGER, "{0}", description="Truncate towards zero.", **CATEGORY)
    reg("TRUNC", (BIGINT,), BIGINT, "{0}", **CATEGORY)
    reg("TRUNC", (DOUBLE,), BIGINT, "CAST(trunc({0}) AS BIGINT)", **CATEGORY)
    reg("TRUNC", (DOUBLE, INTEGER), DOUBLE,
        lambda a, t: _double_by_scale(a[0], a[1], lambda v, s: f"trunc({v}, {s})", _approx_trunc),
        **CATEGORY)
    reg("TRUNC", (ANY_DECIMAL,), _integral_decimal,
        lambda a, t: f"CAST(trunc({a[0]}) AS {duckdb_type(_integral_decimal(t))})", **CATEGORY)
    reg("TRUNC", (ANY_DECIMAL, INTEGER), lambda t: t[0], _decimal_by_scale("TRUNC"), **CATEGORY)


# ---- GREATEST / LEAST ----------------------------------------------------------------------

_TEMPORAL = ("DATE", "TIME", "TIMESTAMP")


def _compile_extreme(name: str):
    """GREATEST/LEAST: string literals adapt to temporal peers, then normal overload resolution."""
    def compile_call(compiler, call: a.FunctionCall):
        from pyksqlite.expressions.casts import cast_sql
        from pyksqlite.expressions.compiler import TypedSql
        args = [compiler.compile(arg) for arg in call.args]
        temporal = {t.type.base for t in args if t.type is not None and t.type.base in _TEMPORAL}
        if len(temporal) == 1:
            target = SqlType(temporal.pop())
            args = [TypedSql(cast_sql(t.sql, t.type, target), target)
                    if isinstance(e, a.StringLiteral) else t for e, t in zip(call.args, args)]
        resolved = compiler.functions.resolve(name, [t.type for t in args])
        args_sql = [t.sql if target is None else cast_sql(t.sql, t.type, target)
                    for t, target in zip(args, resolved.param_types)]
        return TypedSql(resolved.render(args_sql, list(resolved.param_types)), resolved.return_type)
    return compile_call


def _register_greatest_least(registry) -> None:
    for name in ("GREATEST", "LEAST"):
        registry.register_special(name, _compile_extreme(name), category="MATHEMATICAL",
                                  description=f"The {name.lower()} non-NULL argument.")
        for t in (INTEGER, BIGINT, DOUBLE, ANY_DECIMAL, STRING, BYTES, DATE, TIME, TIMESTAMP):
            registry.register(name, (t, t), _widest_of, _extreme_template(name), variadic=True,
                              **CATEGORY)


def _widest_of(types):
    from pyksqlite.expressions.typing_rules import widest_numeric
    from pyksqlite.common.types import is_numeric
    present = [t for t in types if t is not None]
    return widest_numeric(present) if all(is_numeric(t) for t in present) else present[0]


def _extreme_template(name: str):
    def render(args, types):
        return f"CAST({name.lower()}({', '.join(args)}) AS {duckdb_type(_widest_of(types))})"
    return render


# ---- GEO_DISTANCE ----------------------------------------------------------------------------

_EARTH_RADIUS = "(CASE WHEN upper({4}) IN ('MI', 'MILE', 'MILES') THEN 3959.0 ELSE 6371.0 END)"
_UNIT_CHECK = ("CASE WHEN upper({4}) NOT IN ('KM', 'KILOMETER', 'KILOMETERS', 'KILOMETRE', "
               "'KILOMETRES', 'MI', 'MILE', 'MILES') THEN " + fail_sql(
                   "GeoDistance function expects either KM or MI for radius argument",
                   "DOUBLE").replace("{", "{{").replace("}", "}}") + " END")


def _haversine(radius: str) -> str:
    lat1, lat2 = "radians({0})", "radians({2})"
    dlat, dlon = "radians({2} - {0})", "radians({3} - {1})"
    inner = f"pow(sin({dlat} / 2), 2) + pow(sin({dlon} / 2), 2) * cos({lat1}) * cos({lat2})"
    return f"(2 * {radius} * asin(sqrt({inner})))"


def _register_geo_distance(registry) -> None:
    registry.register("GEO_DISTANCE", (DOUBLE, DOUBLE, DOUBLE, DOUBLE), DOUBLE,
                      _haversine("6371.0"), description="The great-circle distance between two "
                      "lat/lon points, in KM (default) or MI.", **CATEGORY)
    registry.register("GEO_DISTANCE", (DOUBLE, DOUBLE, DOUBLE, DOUBLE, STRING), DOUBLE,
                      "coalesce(" + _UNIT_CHECK + ", " + _haversine(_EARTH_RADIUS) + ")",
                      **CATEGORY)
