"""Python user-defined functions: scalar (UDF), table (UDTF) and aggregate (UDAF).

ksqlDB loads Java UDFs from jars; ksqlite loads Python ones. A function is declared with a
decorator (`pyksqlite.udf`) and lands in the shared function registry with its signature, so it
resolves, type-checks, lists (SHOW FUNCTIONS) and describes (DESCRIBE FUNCTION) like a built-in:

    from pyksqlite.udf import udf

    @udf(params=["STRING"], returns="STRING", description="The domain of an e-mail address.")
    def email_domain(emails: pa.Array) -> pa.Array:        # vectorized: whole Arrow arrays
        return pc.utf8_lower(pc.split_pattern(emails, "@").list_element(1)) ...

What a declaration can say, as ksqlDB's annotations can (types: `python_udf_types`):
* overloads: several declarations of one name; calls resolve by ksqlDB's UdfIndex rules;
* a variadic parameter in any position (`"STRING..."`, or `variadic=True` for the last one):
  its arguments are passed spread, as separate positional arguments;
* generic types (`"T"`, `"ARRAY<T>"`, `"MAP<K, V>"`, `"ANY"`, `"DECIMAL"`) with a return type
  that follows them (`returns="ARRAY<T>"`) or a schema provider (`returns=lambda types: ...`);
* STRUCT and DECIMAL parameters and results with declared schemas (`"STRUCT<A STRING>"`);
* per-call-site state: methods of a class declared with `udf_class` (ksqlDB's UDF instance).

Two ways to run, named so:
* **vectorized** (the default): the function receives one `pyarrow.Array` per argument and
  returns an array of the same length, called once per DuckDB vector inside the query's one
  compiled statement;
* **per row** (`per_row=True`): a plain Python function of values, called once per row (NULL in
  gives NULL out unless `null_on_null=False`). Functions without parameters always run so.

A row whose evaluation raises gives NULL for that column and an entry in the processing log
(ksqlDB logs and nulls it); a failing vectorized call is retried row by row to find the rows.

Aggregates (`@udaf`) follow ksqlDB's Udaf: a class built with the call's constant (init)
arguments, with initialize / aggregate / merge / map, and undo for table sources. Where functions
come from: `python_udf_loading` (ksqlDB's `ksql.extension.dir`, and Python entry points).
"""
from __future__ import annotations

import inspect
import itertools
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Optional, Sequence

from pyksqlite.common.errors import KsqlException
from pyksqlite.state import tagged_json
from pyksqlite.expressions.aggregates import Accumulator, BoundAggregate
from pyksqlite.expressions import python_udf_duck as duck
from pyksqlite.expressions.functions import FunctionRegistry, default_registry, has_generics, substitute
from pyksqlite.expressions.python_udf_loading import (ENTRY_POINT_GROUP, EXTENSION_DIR_PROPERTY,
                                                   load_configured, load_entry_points, load_extension_dir)
from pyksqlite.expressions.python_udf_types import ReturnSpec, TypeSpec, parse_params, parse_return, to_python
from pyksqlite.expressions.typing_rules import decimal_literal_type, integer_literal_type
from pyksqlite.grammar.ast import BOOLEAN, DOUBLE, STRING, SqlType

__all__ = ["udf", "udtf", "udaf", "udf_class", "udf_method", "udtf_method", "PythonFunction",
           "register_function", "unregister_function", "register_kernel", "bind_python_aggregate",
           "load_extension_dir", "load_entry_points", "load_configured", "ENTRY_POINT_GROUP",
           "EXTENSION_DIR_PROPERTY"]


@dataclass
class PythonFunction:
    """One variant of a Python function as the engine sees it."""
    name: str                         # the SQL name, upper-case
    kind: str                         # scalar | table | aggregate
    params: tuple                     # parameter types (SqlType, maybe generic, or "ANY")
    returns: Any                      # SqlType (maybe generic) or a schema provider; table: one value
    impl: Any                         # the function (scalar, table) or the class (aggregate)
    per_row: bool = False
    variadic: bool = False
    null_on_null: bool = True
    deterministic: bool = True
    description: str = ""
    param_names: tuple[str, ...] = ()
    path: str = ""                    # where it was defined (DESCRIBE FUNCTION's "path")
    variadic_at: int = -1             # which parameter of `sql_params` is variadic
    init_params: tuple = ()           # aggregate: constant arguments after the column ones
    aggregate: Any = None             # aggregate: the accumulator's type (default: `returns`)
    owner: Optional[type] = None      # the class of a `udf_class` method: an instance per call site
    token: int = field(default=0, compare=False)

    @property
    def sql_params(self) -> tuple:
        """Every parameter of the SQL call: the columns', then an aggregate's init parameters."""
        return tuple(self.params) + tuple(self.init_params)

    def column_count(self, n_args: int) -> int:
        """How many of `n_args` arguments are columns (the rest are an aggregate's init args)."""
        return n_args - len(self.init_params) if self.variadic and \
            self.variadic_at % len(self.sql_params) < len(self.params) else len(self.params)


# ---- the decorators ---------------------------------------------------------------------------

def udf(name: Optional[str] = None, *, params: Sequence[TypeSpec], returns: ReturnSpec,
        description: str = "", per_row: bool = False, variadic: bool = False,
        null_on_null: bool = True, deterministic: bool = True,
        registry: Optional[FunctionRegistry] = None) -> Callable:
    """Register a scalar function. Apply it several times to one name for overloads."""
    def decorate(fn):
        register_function(_declare("scalar", name or fn.__name__, fn, params, returns, variadic,
                                   description=description or _doc(fn), per_row=per_row,
                                   null_on_null=null_on_null, deterministic=deterministic), registry)
        return fn
    return decorate


def udtf(name: Optional[str] = None, *, params: Sequence[TypeSpec], returns: ReturnSpec,
         description: str = "", per_row: bool = False, variadic: bool = False,
         null_on_null: bool = True, registry: Optional[FunctionRegistry] = None) -> Callable:
    """Register a table function: each input row gives zero or more rows of one `returns` value.

    Vectorized, the function returns one list per input row (a `pyarrow.ListArray`, or anything
    `pa.array` turns into lists); per row, it returns a Python list (None or [] emit nothing)."""
    def decorate(fn):
        register_function(_declare("table", name or fn.__name__, fn, params, returns, variadic,
                                   description=description or _doc(fn), per_row=per_row,
                                   null_on_null=null_on_null), registry)
        return fn
    return decorate


def udaf(name: Optional[str] = None, *, params: Sequence[TypeSpec], returns: ReturnSpec,
         init_params: Sequence[TypeSpec] = (), aggregate: Optional[ReturnSpec] = None,
         description: str = "", registry: Optional[FunctionRegistry] = None) -> Callable:
    """Register an aggregate: a class with ksqlDB's Udaf methods,

        __init__(*init_args);  initialize() -> acc;  aggregate(acc, *values) -> acc;
        merge(acc1, acc2) -> acc;  map(acc) -> result;  optionally undo(acc, *values) -> acc.

    `params` are the column arguments (passed to aggregate/undo per row), `init_params` the
    constant arguments that follow them in a call (passed to the constructor, once per query,
    as ksqlDB passes them to a UdafFactory); one of either may be variadic. `aggregate` is the
    accumulator's SQL type (ksqlDB's aggregateSchema; default `returns`): a complex one cannot be
    used with a DELIMITED source. An instance is made per query. The accumulators it returns are
    kept in checkpoints as JSON data: None, bool, int, float (inf and nan too), str, lists and dicts with str keys, nested;
    and the typed values arguments arrive as (Decimal, bytes, date, time, datetime); not tuples,
    sets or objects (a checkpoint of any other value fails the query with a message naming the
    aggregate)."""
    def decorate(cls):
        function = _declare("aggregate", name or cls.__name__, cls, list(params) + list(init_params),
                            returns, False, description=description or _doc(cls))
        function.params, function.init_params = (function.params[:len(params)],
                                                 function.params[len(params):])
        function.aggregate = parse_return(aggregate) if aggregate is not None else None
        function.param_names = _udaf_param_names(cls)
        register_function(function, registry)
        return cls
    return decorate


_METHOD_SPEC = "__ksqlite_udf__"


def udf_method(*, params: Sequence[TypeSpec], returns: ReturnSpec, **options) -> Callable:
    """Mark a method of a `udf_class` class as one variant of its scalar function."""
    def mark(fn):
        setattr(fn, _METHOD_SPEC, ("scalar", params, returns, options))
        return fn
    return mark


def udtf_method(*, params: Sequence[TypeSpec], returns: ReturnSpec, **options) -> Callable:
    """Mark a method of a `udf_class` class as one variant of its table function."""
    def mark(fn):
        setattr(fn, _METHOD_SPEC, ("table", params, returns, options))
        return fn
    return mark


def udf_class(name: Optional[str] = None, *, description: str = "",
              registry: Optional[FunctionRegistry] = None) -> Callable:
    """Register the marked methods of a class as the variants of one function (ksqlDB's
    `@UdfDescription` class with `@Udf` methods). Each call site of a compiled query gets its own
    instance (made with no arguments), so a method may keep state between rows."""
    def decorate(cls):
        methods = [(n, m) for n, m in inspect.getmembers(cls, inspect.isfunction) if hasattr(m, _METHOD_SPEC)]
        if not methods:
            raise KsqlException(f"udf_class {cls.__name__}: no method is marked with udf_method or udtf_method.")
        for _, method in methods:
            kind, params, returns, options = getattr(method, _METHOD_SPEC)
            variadic = options.pop("variadic", False)
            function = _declare(kind, name or cls.__name__, method, params, returns, variadic,
                                description=description or _doc(cls), **options)
            function.owner, function.deterministic = cls, False
            function.param_names = function.param_names[1:]   # not `self`
            register_function(function, registry)
        return cls
    return decorate


def _declare(kind: str, name: str, impl, params, returns, variadic: bool, **options) -> PythonFunction:
    sql_name = name.upper()
    types, at = parse_params(params, f"Function {sql_name}")
    if variadic and at is None:
        if not types:
            raise KsqlException(f"Function {sql_name}: variadic=True needs a parameter to repeat.")
        at = len(types) - 1
    return PythonFunction(sql_name, kind, types, parse_return(returns), impl, variadic=at is not None,
                          variadic_at=-1 if at is None else at, param_names=_param_names(impl),
                          path=_where(impl), **options)


# ---- registration -----------------------------------------------------------------------------

_lock = threading.RLock()
_declared: dict[str, list[PythonFunction]] = {}     # SQL name -> variants
_tokens = itertools.count(1)


def register_function(function: PythonFunction, registry: Optional[FunctionRegistry] = None) -> None:
    """Add a variant to the registry (re-declaring a signature replaces that variant)."""
    registry = registry or default_registry()
    existing = registry.kind_of(function.name)
    if existing is not None and not _is_python(registry, function.name):
        raise KsqlException(f"Function '{function.name}' is a built-in function and cannot be replaced.")
    if existing is not None and existing != function.kind:
        raise KsqlException(f"Function '{function.name}' is already registered as a {existing} function.")
    with _lock:
        function.token = next(_tokens)
        _drop_same_signature(registry, function)
        _declared.setdefault(function.name, []).append(function)
        template = "" if function.kind == "aggregate" else _call_template(function)
        registry.register(function.name, function.sql_params, function.returns, template,
                          kind=function.kind, variadic=function.variadic, variadic_at=function.variadic_at,
                          category="AGGREGATE" if function.kind == "aggregate" else "PYTHON",
                          description=function.description, param_names=function.param_names,
                          display_name=function.name)
        info = registry.get(function.name)
        info.category = "PYTHON" if function.kind != "aggregate" else "AGGREGATE"
        info.description = info.description or function.description
        setattr(info, "python", True)
        setattr(info, "path", function.path)
        if not function.deterministic:  # never folded, nor wrapped in TRY (DuckDB refuses that)
            setattr(info, "volatile", True)


def _is_python(registry: FunctionRegistry, name: str) -> bool:
    return bool(getattr(registry.get(name), "python", False))


def _same_signature(a: PythonFunction, b: PythonFunction) -> bool:
    return a.sql_params == b.sql_params and (a.variadic_at if a.variadic else None) == \
        (b.variadic_at if b.variadic else None)


def _drop_same_signature(registry: FunctionRegistry, function: PythonFunction) -> None:
    """Re-registering a variant (e.g. reloading a module) replaces it."""
    if registry.kind_of(function.name) is None:
        return
    old = [f for f in _declared.get(function.name, []) if _same_signature(f, function)]
    if not old:
        return
    info = registry.get(function.name)
    info.variants[:] = [v for v in info.variants if not (
        tuple(v.params) == function.sql_params and v.variadic_index == (
            function.variadic_at % len(function.sql_params) if function.variadic else None))]
    for stale in old:
        _declared[function.name].remove(stale)
        duck.forget(stale.token)


def _call_template(function: PythonFunction):
    """The SQL of a call: the DuckDB function of the call's concrete types over the (already
    cast) arguments, each variadic argument one more DuckDB argument."""
    def render(args_sql: list[str], param_types: list, return_type: SqlType) -> str:
        types = tuple(duck.null_type(t) for t in param_types)
        name = duck.instance_name((function.token, types, return_type), lambda: duck.DuckFunction(
            function.name, function.impl, types, return_type, table=function.kind == "table",
            per_row=function.per_row or not types, null_on_null=function.null_on_null,
            deterministic=function.deterministic, owned=function.owner is not None))
        lead = []
        if function.owner is not None:
            lead = [f"CAST({duck.new_owner(function.owner)} AS BIGINT)"]
        elif not types:
            lead = ["CAST(0 AS BIGINT)"]
        return f"{name}({', '.join(lead + list(args_sql))})"
    render.takes_return_type = True
    return render


def register_kernel(duck_name: str, fn: Callable, params: Sequence[TypeSpec], returns: TypeSpec) -> str:
    """An internal vectorized kernel for built-ins whose semantics no SQL expression gives:
    callable from compiled SQL as `duck_name(...)`, invisible to SHOW FUNCTIONS."""
    types, _ = parse_params(params, duck_name)
    return duck.register_fixed(duck_name, duck.DuckFunction(duck_name.upper(), fn, types, parse_return(returns)))


def unregister_function(name: str, registry: Optional[FunctionRegistry] = None) -> None:
    """Forget a Python function (all its variants). Built-ins cannot be removed."""
    registry = registry or default_registry()
    if registry.kind_of(name) is None or not _is_python(registry, name):
        return
    with _lock:
        registry.unregister(name)
        for function in _declared.pop(name.upper(), []):
            duck.forget(function.token)


def python_functions() -> list[PythonFunction]:
    """Every registered Python function variant."""
    return [f for variants in _declared.values() for f in variants]


# ---- aggregates (called by the aggregation planner and operators) ---------------------------

def is_python_aggregate(name: str) -> bool:
    return any(f.kind == "aggregate" for f in _declared.get(name.upper(), []))


def _resolve_aggregate(name: str, arg_types: list[Optional[SqlType]]):
    """(the variant, the registry's resolved call) for all the arguments of a call."""
    resolved = default_registry().resolve(name, arg_types)  # ksqlDB's overload rules and messages
    for variant in _declared.get(name.upper(), []):
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
    """A `BoundAggregate` (engine.expressions.aggregates) for a Python UDAF call, or None.

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


# ---- helpers ----------------------------------------------------------------------------------

def _param_names(fn) -> tuple[str, ...]:
    try:
        return tuple(p.name for p in inspect.signature(fn).parameters.values()
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    except (TypeError, ValueError):
        return ()


def _udaf_param_names(cls) -> tuple[str, ...]:
    """The names of a UDAF's column parameters (its `aggregate` method's, after the accumulator)
    and then of its init parameters (its constructor's)."""
    columns = _param_names(getattr(cls, "aggregate", None))[2:]
    init = _param_names(cls.__init__)[1:] if cls.__init__ is not object.__init__ else ()
    return columns + init


def _doc(obj) -> str:
    return inspect.getdoc(obj).split("\n\n")[0].replace("\n", " ") if inspect.getdoc(obj) else ""


def _where(obj) -> str:
    try:
        return inspect.getsourcefile(obj) or ""
    except TypeError:
        return ""

