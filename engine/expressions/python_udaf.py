"""Python aggregates (UDAFs) as the aggregation operators run them: a call resolved to its
variant (ksqlDB's overload rules), its constant (init) arguments, and a `PythonAccumulator` per
group over an instance of the declared class. Declaring them: `python_udf.udaf`.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional

from pyksqlite.common.errors import KsqlException
from pyksqlite.expressions import python_udf_duck as duck
from pyksqlite.expressions.aggregate_call import Accumulator, BoundAggregate
from pyksqlite.expressions.default_functions import default_registry
from pyksqlite.expressions.functions import has_generics, substitute
from pyksqlite.expressions.python_udf import PythonFunction, declared_variants
from pyksqlite.expressions.python_udf_types import to_python
from pyksqlite.expressions.typing_rules import decimal_literal_type, integer_literal_type
from pyksqlite.grammar.ast import BOOLEAN, DOUBLE, STRING, SqlType
from pyksqlite.state import tagged_json


def is_python_aggregate(name: str) -> bool:
    return any(f.kind == "aggregate" for f in declared_variants(name))


def _resolve_aggregate(name: str, arg_types: list[Optional[SqlType]]):
    """(the variant, the registry's resolved call) for all the arguments of a call."""
    resolved = default_registry().resolve(name, arg_types)  # ksqlDB's overload rules and messages
    for variant in declared_variants(name):
        if variant.sql_params == tuple(resolved.variant.params) and \
                variant.variadic == resolved.variant.variadic and \
                (not variant.variadic or variant.variadic_at % len(variant.sql_params)
                 == resolved.variant.variadic_index):
            return variant, resolved
    raise KsqlException(f"Aggregate {name} has no Python variant for {resolved.variant.signature()}")


def udaf_column_count(name: str, arg_types: list[Optional[SqlType]]) -> int:
    """How many leading arguments of a call read columns; the rest are init args (literals)."""
    function, _ = _resolve_aggregate(name, arg_types)
    return function.column_count(len(arg_types))


def python_aggregate(name: str, arg_types: list[Optional[SqlType]]) -> Optional[PythonFunction]:
    """The Python aggregate variant for these argument types, or None if `name` is not one."""
    if not is_python_aggregate(name):
        return None
    return _resolve_aggregate(name, arg_types)[0]


class PythonAccumulator(Accumulator):
    """The aggregation operators' accumulator protocol (add / remove / merge / result) over a
    Python UDAF instance. `add` and `remove` receive the argument values of one row; a row whose
    aggregate or undo raises leaves the accumulator as it was (logged to the processing log)."""

    def __init__(self, function: PythonFunction, init_args: tuple = (), arg_types: tuple = ()):
        self.function = function
        self.init_args = tuple(init_args)
        self.arg_types = tuple(arg_types)
        self.udaf = function.impl(*init_args)
        self.acc = self.udaf.initialize()

    def add(self, args: tuple, seq: int = 0) -> None:
        self._apply(self.udaf.aggregate, args)

    def remove(self, args: tuple, seq: int = 0) -> None:
        undo = getattr(self.udaf, "undo", None)
        if undo is None:
            raise KsqlException(f"Aggregate {self.function.name} does not support undo (table sources).")
        self._apply(undo, args)

    def _apply(self, method, args: tuple) -> None:
        values = tuple(to_python(v, t) for v, t in zip(args, self.arg_types)) if self.arg_types else args
        try:
            self.acc = method(self.acc, *values)
        except Exception as error:  # noqa: BLE001 - a bad row must not stop the query
            duck.report_failure(self.function.name, error)

    def merge(self, other: "PythonAccumulator") -> None:
        self.acc = self.udaf.merge(self.acc, other.acc)

    def result(self) -> Any:
        return self.udaf.map(self.acc)

    # --- checkpoints: the accumulator as JSON text (see `udaf`) ---
    def state_columns(self) -> tuple[str, ...]:
        return ("json",)

    def state_rows(self) -> list[tuple]:
        return [(tagged_json.dumps(self.acc, f"the accumulator of UDAF {self.function.name}"),)]

    def load_rows(self, rows: list[tuple]) -> None:
        if len(rows) != 1 or not isinstance(rows[0][0], str):
            raise ValueError(f"the checkpointed accumulator of UDAF {self.function.name} is not one JSON text")
        self.acc = tagged_json.loads(rows[0][0], f"the accumulator of UDAF {self.function.name}")


def bind_python_aggregate(name: str, arg_types: list[Optional[SqlType]], literals: list[Any] = ()):
    """A `BoundAggregate` (`pyksqlite.expressions.aggregate_call`) for a Python UDAF call, or None.

    `arg_types` are the column arguments' types, `literals` the init arguments' values. The
    aggregation engine calls this where a name is not one of its built-ins."""
    if not is_python_aggregate(name):
        return None
    all_types = list(arg_types) + [literal_type(v) for v in literals]
    function, resolved = _resolve_aggregate(name, all_types)
    if function.column_count(len(all_types)) != len(arg_types):
        raise KsqlException(f"Aggregate {function.name} takes {function.column_count(len(all_types))} "
                            f"column arguments, got {len(arg_types)}")
    init_args = tuple(_init_value(v, t) for v, t in zip(literals, resolved.param_types[len(arg_types):]))
    accumulator_type = _aggregate_type(function, resolved)
    column_types = tuple(resolved.param_types[:len(arg_types)])
    return BoundAggregate(function.name, resolved.return_type, len(arg_types),
                          undo=hasattr(function.impl, "undo"),
                          complex_intermediate=accumulator_type.base in ("ARRAY", "MAP", "STRUCT"),
                          accumulator=lambda: PythonAccumulator(function, init_args, column_types))


def _aggregate_type(function: PythonFunction, resolved) -> SqlType:
    declared = function.aggregate
    if declared is None:
        return resolved.return_type
    if callable(declared):
        return declared(list(resolved.param_types))
    return substitute(declared, resolved.bindings) if has_generics(declared) else declared


def literal_type(value: Any) -> Optional[SqlType]:
    """The SQL type of a literal's value, as the parser types literals."""
    if value is None:
        return None
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return integer_literal_type(value)
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, Decimal):
        return decimal_literal_type(str(value))
    return STRING


def _init_value(value: Any, target: Optional[SqlType]) -> Any:
    """An init argument as the parameter's type has it (5 for a DOUBLE parameter is 5.0)."""
    if value is None or target is None:
        return value
    if target.base == "DOUBLE" and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return float(value)
    if target.base == "DECIMAL" and isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value
