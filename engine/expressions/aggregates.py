"""The aggregate function library: ksqlDB's UDAFs with their signatures, result types and null
handling, in the two forms the aggregation operators run.

* **Vectorized** (COUNT, SUM, AVG, MIN, MAX, STDDEV_*, CORRELATION, SUM_LIST): the aggregate is a
  few *partials*, each a DuckDB expression per input row (already multiplied by the row's sign, +1
  to add, -1 to retract a table row) combined with SUM, MIN or MAX. Partials of one group merge by
  the same combiner, so a running value is `state (+|min|max) window-function-over-batch`, and
  session windows merge by combining partials. `final` turns the partials into the result.
* **Accumulators** (COLLECT_LIST/SET, TOPK, TOPKDISTINCT, HISTOGRAM, COUNT_DISTINCT,
  EARLIEST/LATEST_BY_OFFSET, ATTR): a small Python object per group with add / remove / merge /
  result. Used for the aggregates whose state is a collection; the operators call them once per
  distinct group per batch with that group's values. For checkpoints an accumulator states its
  contents as rows of typed columns (`state_columns` / `state_rows` / `load_rows`): argument
  values keep their column's Arrow type, counters and sequence numbers are BIGINT; its
  parameters (limits, k) come from the query, not from the checkpoint.

`bind_aggregate` resolves one call (name + argument types + literal parameters) into a
`BoundAggregate`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.casts import wrap_int32, wrap_int64
from pyksqlite.expressions.typing_rules import duckdb_type
from pyksqlite.grammar.ast import BIGINT, DOUBLE, STRING, SqlType, array, map_of, struct

AGGREGATE_NAMES = ("AVG", "COLLECT_LIST", "COLLECT_SET", "CORRELATION", "COUNT", "COUNT_DISTINCT",
                   "EARLIEST_BY_OFFSET", "HISTOGRAM", "LATEST_BY_OFFSET", "MAX", "MIN", "STDDEV_SAMP",
                   "STDDEV_SAMPLE", "STDDEV_POP", "SUM", "TOPK", "TOPKDISTINCT", "ATTR", "SUM_LIST")

SIGN = "__sign"  # +1 adds a row, -1 retracts it (table sources)


@dataclass(frozen=True)
class Partial:
    """One running quantity: `sql` per row (over the argument columns and SIGN), combined by `combine`."""
    sql: str
    combine: str          # sum | min | max
    duck_type: str


@dataclass
class BoundAggregate:
    """One aggregate call resolved against its argument types."""
    name: str
    result_type: SqlType
    arg_count: int                              # non-literal arguments, read from columns
    undo: bool = True                           # may aggregate a table (retractions)
    complex_intermediate: bool = False          # needs a structured intermediate (not DELIMITED)
    partials: Optional[list[Partial]] = None    # vectorized form ...
    final: Optional[Callable[[list[str]], str]] = None
    accumulator: Optional[Callable[[], "Accumulator"]] = None  # ... or the accumulator form

    @property
    def vectorized(self) -> bool:
        return self.partials is not None


def partial_sql_for(template: str, args: list[str]) -> str:
    return template.format(*args, sign=SIGN)


# --- accumulators -------------------------------------------------------------------------------

class Accumulator:
    """Python state of one group for one aggregate call; values are argument tuples.

    State as rows: `state_columns()` names each column of `state_rows()`: "arg<i>" (argument i's
    type), "seq" and "count" (BIGINT) or "json" (JSON text); `load_rows` takes them back."""

    def state_columns(self) -> tuple[str, ...]:
        return ("arg0",)

    def state_rows(self) -> list[tuple]:
        raise NotImplementedError

    def load_rows(self, rows: list[tuple]) -> None:
        raise NotImplementedError

    def add(self, args: tuple, seq: int) -> None:
        raise NotImplementedError

    def remove(self, args: tuple, seq: int) -> None:
        pass

    def merge(self, other: "Accumulator") -> None:
        raise NotImplementedError

    def result(self) -> Any:
        raise NotImplementedError


def _freeze(value):
    """A hashable form of a value (lists, dicts and maps as tuples)."""
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


class CollectList(Accumulator):
    def __init__(self, limit: int):
        self.limit, self.items = limit, []

    def add(self, args, seq):
        if len(self.items) < self.limit:
            self.items.append(args[0])

    def remove(self, args, seq):
        key = _freeze(args[0])
        for i, item in enumerate(self.items):
            if _freeze(item) == key:
                del self.items[i]
                return

    def merge(self, other):
        self.items = (self.items + other.items)[:self.limit]

    def result(self):
        return list(self.items)

    def state_rows(self):
        return [(item,) for item in self.items]

    def load_rows(self, rows):
        self.items = [row[0] for row in rows]


class CollectSet(Accumulator):
    def __init__(self, limit: int):
        self.limit, self.items = limit, {}

    def add(self, args, seq):
        key = _freeze(args[0])
        if key not in self.items and len(self.items) < self.limit:
            self.items[key] = args[0]

    def remove(self, args, seq):
        self.items.pop(_freeze(args[0]), None)

    def merge(self, other):
        for key, value in other.items.items():
            if key not in self.items and len(self.items) < self.limit:
                self.items[key] = value

    def result(self):
        return list(self.items.values())

    def state_rows(self):
        return [(item,) for item in self.items.values()]

    def load_rows(self, rows):
        self.items = {_freeze(row[0]): row[0] for row in rows}


class Histogram(Accumulator):
    LIMIT = 1000

    def __init__(self):
        self.counts: dict = {}

    def add(self, args, seq):
        value = args[0]
        if value is None:
            return
        if value in self.counts or len(self.counts) < self.LIMIT:
            self.counts[value] = self.counts.get(value, 0) + 1

    def remove(self, args, seq):
        value = args[0]
        if value in self.counts:
            self.counts[value] -= 1
            if self.counts[value] <= 0:
                del self.counts[value]

    def merge(self, other):
        for value, count in other.counts.items():
            self.counts[value] = self.counts.get(value, 0) + count

    def result(self):
        return list(self.counts.items())

    def state_columns(self):
        return ("arg0", "count")

    def state_rows(self):
        return list(self.counts.items())

    def load_rows(self, rows):
        self.counts = {value: count for value, count in rows}


class CountDistinct(Accumulator):
    def __init__(self):
        self.values: dict = {}      # the frozen value -> the value (so that checkpoints keep values)

    def add(self, args, seq):
        if args[0] is not None:
            self.values.setdefault(_freeze(args[0]), args[0])

    def merge(self, other):
        for key, value in other.values.items():
            self.values.setdefault(key, value)

    def result(self):
        return len(self.values)

    def state_rows(self):
        return [(value,) for value in self.values.values()]

    def load_rows(self, rows):
        self.values = {_freeze(row[0]): row[0] for row in rows}


class TopK(Accumulator):
    """The k largest values (nulls ignored), ties in arrival order; with extra columns, structs."""

    def __init__(self, k: int, distinct: bool, extra: int):
        self.k, self.distinct, self.extra = k, distinct, extra
        self.items: list[tuple] = []   # (value, seq, args)

    def add(self, args, seq):
        if args[0] is None:
            return
        if self.distinct and any(item[0] == args[0] for item in self.items):
            return
        self.items.append((args[0], seq, args))
        self._trim()

    def _trim(self):
        self.items.sort(key=lambda item: item[1])
        self.items.sort(key=lambda item: item[0], reverse=True)
        del self.items[self.k:]

    def merge(self, other):
        for item in other.items:
            if not (self.distinct and any(i[0] == item[0] for i in self.items)):
                self.items.append(item)
        self._trim()

    def result(self):
        if not self.extra:
            return [item[0] for item in self.items]
        return [dict([("SORT_COL", item[2][0])] + [(f"COL{i}", item[2][i + 1]) for i in range(self.extra)])
                for item in self.items]

    def state_columns(self):
        return ("seq",) + tuple(f"arg{i}" for i in range(self.extra + 1))

    def state_rows(self):
        return [(seq, *args) for _, seq, args in self.items]

    def load_rows(self, rows):
        self.items = [(row[1], row[0], tuple(row[1:])) for row in rows]


class ByOffset(Accumulator):
    """EARLIEST_BY_OFFSET / LATEST_BY_OFFSET, optionally the n first/last values."""

    def __init__(self, latest: bool, n: Optional[int], ignore_nulls: bool):
        self.latest, self.n, self.ignore_nulls = latest, n, ignore_nulls
        self.items: list[tuple[int, Any]] = []  # (seq, value), in seq order

    def add(self, args, seq):
        value = args[0]
        if value is None and self.ignore_nulls:
            return
        self.items.append((seq, value))
        self._trim()

    def _trim(self):
        limit = self.n or 1
        if len(self.items) > limit:
            self.items = self.items[-limit:] if self.latest else self.items[:limit]

    def merge(self, other):
        self.items = sorted(self.items + other.items, key=lambda item: item[0])
        self._trim()

    def result(self):
        if self.n is None:
            return self.items[-1][1] if self.items else None
        return [value for _, value in self.items]

    def state_columns(self):
        return ("seq", "arg0")

    def state_rows(self):
        return list(self.items)

    def load_rows(self, rows):
        self.items = [(seq, value) for seq, value in rows]


class Attr(Accumulator):
    """The value when every row agrees on it, else NULL (counts per value, so retractions work)."""

    def __init__(self):
        self.counts: dict = {}
        self.values: dict = {}

    def add(self, args, seq):
        key = _freeze(args[0])
        self.counts[key] = self.counts.get(key, 0) + 1
        self.values[key] = args[0]

    def remove(self, args, seq):
        key = _freeze(args[0])
        if key in self.counts:
            self.counts[key] -= 1
            if self.counts[key] <= 0:
                del self.counts[key]
                del self.values[key]

    def merge(self, other):
        for key, count in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
            self.values[key] = other.values[key]

    def result(self):
        return next(iter(self.values.values())) if len(self.values) == 1 else None

    def state_columns(self):
        return ("arg0", "count")

    def state_rows(self):
        return [(self.values[key], count) for key, count in self.counts.items()]

    def load_rows(self, rows):
        self.counts, self.values = {}, {}
        for value, count in rows:
            key = _freeze(value)
            self.counts[key], self.values[key] = count, value


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
    from pyksqlite.expressions.python_udf import bind_python_aggregate  # user-defined (Python) UDAFs
    bound = bind_python_aggregate(name, arg_types, literals)
    if bound is not None:
        return bound
    raise KsqlStatementException(f"Can't find any functions with the name '{name}'")


# How many leading arguments each function reads from columns; the rest must be literals.
def column_arg_count(name: str, total: int, types_of: Optional[Callable[[], list]] = None) -> int:
    """`types_of()` gives every argument's type: a Python UDAF's split depends on its variant."""
    name = name.upper()
    from pyksqlite.expressions.python_udf import is_python_aggregate, udaf_column_count
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
