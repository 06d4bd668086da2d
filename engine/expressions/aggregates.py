"""The aggregate function library: ksqlDB's UDAFs with their signatures, result types and null
handling, in the two forms the aggregation operators run.

* **Vectorized** (COUNT, SUM, AVG, MIN, MAX, STDDEV_*, CORRELATION, SUM_LIST): the aggregate is a
  few *partials*, each a DuckDB expression per input row (already multiplied by the row's sign, +1
  to add, -1 to retract a table row) combined with SUM, MIN or MAX. Partials of one group merge by
  the same combiner, so a running value is `state (+|min|max) window-function-over-batch`, and
  session windows merge by combining partials. `final` turns the partials into the result.
* **Accumulators** (COLLECT_LIST/SET, TOPK, TOPKDISTINCT, HISTOGRAM, COUNT_DISTINCT,
  EARLIEST/LATEST_BY_OFFSET, ATTR): a small Python object per group (`accumulators`), for the
  aggregates whose state is a collection.

`bind_aggregate` resolves one call (name + argument types + literal parameters) into a
`BoundAggregate`.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.accumulators import Attr, ByOffset, CollectList, CollectSet, CountDistinct, Histogram, TopK
from pyksqlite.expressions.aggregate_call import BoundAggregate, Partial
from pyksqlite.expressions.casts import wrap_int32, wrap_int64
from pyksqlite.expressions.python_udaf import bind_python_aggregate, is_python_aggregate, udaf_column_count
from pyksqlite.expressions.typing_rules import duckdb_type
from pyksqlite.grammar.ast import BIGINT, DOUBLE, STRING, SqlType, array, map_of, struct

AGGREGATE_NAMES = ("AVG", "COLLECT_LIST", "COLLECT_SET", "CORRELATION", "COUNT", "COUNT_DISTINCT",
                   "EARLIEST_BY_OFFSET", "HISTOGRAM", "LATEST_BY_OFFSET", "MAX", "MIN", "STDDEV_SAMP",
                   "STDDEV_SAMPLE", "STDDEV_POP", "SUM", "TOPK", "TOPKDISTINCT", "ATTR", "SUM_LIST")

# --- binding ------------------------------------------------------------------------------------

NUMERIC_SUM = ("INTEGER", "BIGINT", "DOUBLE", "DECIMAL")
COMPARABLE = ("INTEGER", "BIGINT", "DOUBLE", "DECIMAL", "STRING", "BYTES", "DATE", "TIME", "TIMESTAMP",
              "BOOLEAN")


def _reject(name: str, types: list[Optional[SqlType]]) -> KsqlStatementException:
    shown = ", ".join("null" if t is None else str(t) for t in types)
    return KsqlStatementException(f"Function '{name.lower()}' does not accept parameters ({shown}).")


def _sum_final(t: SqlType) -> Callable[[list[str]], str]:
    if t.base == "INTEGER":
        return lambda c: wrap_int32(f"CAST({c[0]} AS HUGEINT)")
    if t.base == "BIGINT":
        return lambda c: wrap_int64(f"CAST({c[0]} AS HUGEINT)")
    return lambda c: f"CAST({c[0]} AS {duckdb_type(t)})"


def bind_aggregate(name: str, arg_types: list[Optional[SqlType]], literals: list[Any],
                   config: Optional[dict] = None) -> BoundAggregate:
    """`arg_types` are the column arguments; `literals` the trailing literal parameters (TOPK's k,
    EARLIEST_BY_OFFSET's n / ignoreNulls)."""
    config = config or {}
    name = name.upper()
    t = arg_types[0] if arg_types else None
    n_args = len(arg_types)
    all_types = list(arg_types) + [None] * len(literals)

    if name == "COUNT":
        if n_args == 0:
            return BoundAggregate(name, BIGINT, 0, partials=[Partial("{sign}", "sum", "BIGINT")],
                                  final=lambda c: f"CAST({c[0]} AS BIGINT)")
        return BoundAggregate(name, BIGINT, 1,
                              partials=[Partial("CASE WHEN {0} IS NULL THEN 0 ELSE {sign} END", "sum", "BIGINT")],
                              final=lambda c: f"CAST({c[0]} AS BIGINT)")
    if name == "SUM":
        if n_args != 1 or literals or t is None or t.base not in NUMERIC_SUM:
            raise _reject(name, all_types)
        acc = "DOUBLE" if t.base == "DOUBLE" else ("HUGEINT" if t.base in ("INTEGER", "BIGINT") else
                                                    f"DECIMAL(38, {t.scale})")
        return BoundAggregate(name, t, 1, partials=[Partial(f"CAST(coalesce({{0}}, 0) AS {acc}) * {{sign}}", "sum", acc)],
                              final=_sum_final(t))
    if name == "SUM_LIST":
        if n_args != 1 or t is None or t.base != "ARRAY" or t.element.base not in NUMERIC_SUM:
            raise _reject(name, all_types)
        element = t.element
        acc = "DOUBLE" if element.base == "DOUBLE" else "HUGEINT"
        return BoundAggregate(name, element, 1, partials=[Partial(
            f"CAST(coalesce(list_sum({{0}}), 0) AS {acc}) * {{sign}}", "sum", acc)],
            final=_sum_final(element))
    if name == "AVG":
        if n_args != 1 or t is None or t.base not in NUMERIC_SUM:
            raise _reject(name, all_types)
        return BoundAggregate(name, DOUBLE, 1, complex_intermediate=True, partials=[
            Partial("CAST(coalesce({0}, 0) AS DOUBLE) * {sign}", "sum", "DOUBLE"),
            Partial("CASE WHEN {0} IS NULL THEN 0 ELSE {sign} END", "sum", "BIGINT")],
            final=lambda c: f"CASE WHEN {c[1]} = 0 THEN 0.0 ELSE {c[0]} / {c[1]} END")
    if name in ("MIN", "MAX"):
        if n_args != 1 or t is None or t.base not in COMPARABLE or t.base == "BOOLEAN":
            raise _reject(name, all_types)
        duck = duckdb_type(t)
        return BoundAggregate(name, t, 1, undo=False,
                              partials=[Partial("{0}", name.lower(), duck)],
                              final=lambda c: c[0])
    if name in ("STDDEV_SAMP", "STDDEV_SAMPLE", "STDDEV_POP"):
        if n_args != 1 or t is None or t.base not in ("INTEGER", "BIGINT", "DOUBLE"):
            raise _reject(name, all_types)
        partials = [Partial("CASE WHEN {0} IS NULL THEN 0 ELSE {sign} END", "sum", "BIGINT"),
                    Partial("CAST(coalesce({0}, 0) AS DOUBLE) * {sign}", "sum", "DOUBLE"),
                    Partial("CAST(coalesce({0}, 0) AS DOUBLE) * CAST(coalesce({0}, 0) AS DOUBLE) * {sign}",
                            "sum", "DOUBLE")]
        if name == "STDDEV_POP":
            variance = lambda c: f"(({c[2]}) - ({c[1]}) * ({c[1]}) / {c[0]}) / {c[0]}"
            final = lambda c: f"CASE WHEN {c[0]} < 1 THEN 0.0 ELSE sqrt(greatest({variance(c)}, 0.0)) END"
        else:
            variance = lambda c: f"(({c[2]}) - ({c[1]}) * ({c[1]}) / {c[0]}) / ({c[0]} - 1)"
            # ksqlDB's STDDEV_SAMP returns the sample variance; STDDEV_SAMPLE its square root.
            outer = "sqrt(greatest({}, 0.0))" if name == "STDDEV_SAMPLE" else "{}"
            final = lambda c: f"CASE WHEN {c[0]} < 2 THEN 0.0 ELSE {outer.format(variance(c))} END"
        return BoundAggregate(name, DOUBLE, 1, complex_intermediate=True, partials=partials, final=final)
    if name == "CORRELATION":
        if n_args != 2 or any(x is None or x.base not in ("INTEGER", "BIGINT", "DOUBLE") for x in arg_types):
            raise _reject(name, all_types)
        both = "({0} IS NOT NULL AND {1} IS NOT NULL)"
        x, y = "CAST({0} AS DOUBLE)", "CAST({1} AS DOUBLE)"
        terms = ["1", x, y, f"{x} * {x}", f"{y} * {y}", f"{x} * {y}"]
        partials = [Partial(f"CASE WHEN {both} THEN CAST({term} AS DOUBLE) * {{sign}} ELSE 0 END", "sum", "DOUBLE")
                    for term in terms]

        def final(c):
            n, sx, sy, sxx, syy, sxy = c
            cov = f"({sxy} - {sx} * {sy} / {n})"
            vx, vy = f"({sxx} - {sx} * {sx} / {n})", f"({syy} - {sy} * {sy} / {n})"
            return (f"CASE WHEN {n} < 2 OR {vx} <= 0 OR {vy} <= 0 THEN CAST('NaN' AS DOUBLE) "
                    f"ELSE {cov} / sqrt({vx} * {vy}) END")
        return BoundAggregate(name, DOUBLE, 2, complex_intermediate=True, partials=partials, final=final)

    # --- accumulator forms ---
    if name in ("COLLECT_LIST", "COLLECT_SET"):
        if n_args != 1 or literals:
            raise _reject(name, all_types)
        key = "ksql.functions.collect_list.limit" if name == "COLLECT_LIST" else "ksql.functions.collect_set.limit"
        limit = int(config.get(key, 1000) or 1000)
        factory = (lambda: CollectList(limit)) if name == "COLLECT_LIST" else (lambda: CollectSet(limit))
        return BoundAggregate(name, array(t), 1, complex_intermediate=True, accumulator=factory)
    if name == "HISTOGRAM":
        if n_args != 1 or t is None or t.base != "STRING":
            raise _reject(name, all_types)
        return BoundAggregate(name, map_of(STRING, BIGINT), 1, complex_intermediate=True, accumulator=Histogram)
    if name == "COUNT_DISTINCT":
        if n_args != 1:
            raise _reject(name, all_types)
        return BoundAggregate(name, BIGINT, 1, undo=False, complex_intermediate=True, accumulator=CountDistinct)
    if name in ("TOPK", "TOPKDISTINCT"):
        if n_args < 1 or len(literals) != 1 or not isinstance(literals[0], int) or t is None \
                or t.base not in COMPARABLE or (name == "TOPKDISTINCT" and n_args != 1):
            raise _reject(name, all_types)
        k, extra, distinct = int(literals[0]), n_args - 1, name == "TOPKDISTINCT"
        result = array(t) if not extra else array(struct(
            [("SORT_COL", t)] + [(f"COL{i}", arg_types[i + 1]) for i in range(extra)]))
        return BoundAggregate(name, result, n_args, undo=False, complex_intermediate=True,
                              accumulator=lambda: TopK(k, distinct, extra))
    if name in ("EARLIEST_BY_OFFSET", "LATEST_BY_OFFSET"):
        if n_args != 1 or len(literals) > 2:
            raise _reject(name, all_types)
        n, ignore_nulls = None, True
        if len(literals) == 1:
            if isinstance(literals[0], bool):
                ignore_nulls = literals[0]
            elif isinstance(literals[0], int):
                n = literals[0]
            else:
                raise _reject(name, all_types)
        elif len(literals) == 2:
            if not isinstance(literals[0], int) or isinstance(literals[0], bool) or not isinstance(literals[1], bool):
                raise _reject(name, all_types)
            n, ignore_nulls = literals
        if n is not None and n <= 0:
            raise KsqlStatementException(f"{name.lower()} must have a positive n, but was {n}")
        latest = name == "LATEST_BY_OFFSET"
        return BoundAggregate(name, t if n is None else array(t), 1, undo=False, complex_intermediate=True,
                              accumulator=lambda: ByOffset(latest, n, ignore_nulls))
    if name == "ATTR":
        if n_args != 1:
            raise _reject(name, all_types)
        return BoundAggregate(name, t, 1, complex_intermediate=True, accumulator=Attr)
    bound = bind_python_aggregate(name, arg_types, literals)  # user-defined (Python) UDAFs
    if bound is not None:
        return bound
    raise KsqlStatementException(f"Can't find any functions with the name '{name}'")


# How many leading arguments each function reads from columns; the rest must be literals.
def column_arg_count(name: str, total: int, types_of: Optional[Callable[[], list]] = None) -> int:
    """`types_of()` gives every argument's type: a Python UDAF's split depends on its variant."""
    name = name.upper()
    if types_of is not None and is_python_aggregate(name):
        return udaf_column_count(name, types_of())
    if name in ("TOPK",):
        return total - 1
    if name == "TOPKDISTINCT":
        return 1
    if name in ("EARLIEST_BY_OFFSET", "LATEST_BY_OFFSET"):
        return min(total, 1)
    return total


def register_aggregates(registry) -> None:
    """Declare the aggregate names in the scalar registry (so the compiler rejects them there)."""
    for name in AGGREGATE_NAMES:
        registry.register_kind(name, "aggregate")


def nan_safe(value):
    return None if isinstance(value, float) and math.isnan(value) else value
