"""Python user-defined functions: scalar (UDF), table (UDTF) and aggregate (UDAF).

ksqlDB loads Java UDFs from jars; ksqlite loads Python ones. A function is declared with a
decorator (`engine.udf`) and lands in the shared function registry with its signature, so it
resolves, type-checks, lists (SHOW FUNCTIONS) and describes (DESCRIBE FUNCTION) like a built-in:

    from engine.udf import udf

    @udf(params=["STRING"], returns="STRING", description="The domain of an e-mail address.")
    def email_domain(emails: pa.Array) -> pa.Array:        # vectorized: whole Arrow arrays
        return pc.utf8_lower(pc.split_pattern(emails, "@").list_element(1)) ...

Two ways to run, named so:
* **vectorized** (the default): the function receives one `pyarrow.Array` per argument and
  returns an array of the same length. It is registered into DuckDB as an Arrow UDF, so the
  compiled query calls it once per vector of rows inside the Select's one statement.
* **per row** (`per_row=True`): a plain Python function of values, called once per row (NULL in
  gives NULL out unless `null_on_null=False`). For code that no vector library can express.

A row whose evaluation raises gives NULL for that column (ksqlDB logs and nulls it): a failing
vectorized call is retried row by row to find the failing rows.

Where functions come from (ksqlDB's `ksql.extension.dir`, plus Python's own mechanism):
* a module that uses the decorators, imported by the application;
* `ksql.extension.dir`: every `*.py` file in that directory is imported when an Engine starts;
* the entry point group `ksqlite.udfs`: each entry point names a module (or a callable taking the
  registry) that is imported when an Engine starts.

Aggregates (`@udaf`) follow ksqlDB's Udaf interface (initialize / aggregate / merge / map, and
undo for table sources); the aggregation operators run them through `bind_python_aggregate`.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import itertools
import json
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import pyarrow as pa

from engine.errors import KsqlException
from engine.expressions.functions import FunctionRegistry, default_registry
from engine.expressions.typing_rules import duckdb_type
from engine.types import SqlType, to_arrow

TypeSpec = Union[str, SqlType]
ENTRY_POINT_GROUP = "ksqlite.udfs"
EXTENSION_DIR_PROPERTY = "ksql.extension.dir"


@dataclass
class PythonFunction:
    """One variant of a Python function as the engine sees it."""
    name: str                         # the SQL name, upper-case
    kind: str                         # scalar | table | aggregate
    params: tuple[SqlType, ...]
    returns: SqlType                  # for a table function: the type of one emitted value
    impl: Any                         # the function (scalar, table) or the class (aggregate)
    per_row: bool = False
    variadic: bool = False
    null_on_null: bool = True
    deterministic: bool = True
    description: str = ""
    param_names: tuple[str, ...] = ()
    path: str = ""                    # where it was defined (DESCRIBE FUNCTION's "path")
    duck_name: str = ""               # the DuckDB function that runs it (scalar, table)


# ---- the decorators ---------------------------------------------------------------------------

def udf(name: Optional[str] = None, *, params: Sequence[TypeSpec], returns: TypeSpec,
        description: str = "", per_row: bool = False, variadic: bool = False,
        null_on_null: bool = True, deterministic: bool = True,
        registry: Optional[FunctionRegistry] = None) -> Callable:
    """Register a scalar function. Apply it several times to one name for overloads."""
    def decorate(fn):
        register_function(PythonFunction(
            (name or fn.__name__).upper(), "scalar", _types(params), _type(returns), fn, per_row,
            variadic, null_on_null, deterministic, description or _doc(fn), _param_names(fn),
            _where(fn)), registry)
        return fn
    return decorate


def udtf(name: Optional[str] = None, *, params: Sequence[TypeSpec], returns: TypeSpec,
         description: str = "", per_row: bool = False, variadic: bool = False,
         null_on_null: bool = True, registry: Optional[FunctionRegistry] = None) -> Callable:
    """Register a table function: each input row gives zero or more rows of one `returns` value.

    Vectorized, the function returns one list per input row (a `pyarrow.ListArray`, or anything
    `pa.array` turns into lists); per row, it returns a Python list (None or [] emit nothing)."""
    def decorate(fn):
        register_function(PythonFunction(
            (name or fn.__name__).upper(), "table", _types(params), _type(returns), fn, per_row,
            variadic, null_on_null, True, description or _doc(fn), _param_names(fn), _where(fn)),
            registry)
        return fn
    return decorate


def udaf(name: Optional[str] = None, *, params: Sequence[TypeSpec], returns: TypeSpec,
         description: str = "", registry: Optional[FunctionRegistry] = None) -> Callable:
    """Register an aggregate: a class with ksqlDB's Udaf methods,

        initialize() -> acc;  aggregate(acc, *values) -> acc;  merge(acc1, acc2) -> acc;
        map(acc) -> result;   and optionally undo(acc, *values) -> acc (table sources).

    An instance is made per query. The accumulators it returns are kept in checkpoints as JSON
    data: None, bool, int, float (inf and nan too), str, lists and dicts with str keys, nested;
    not tuples, sets or objects (a checkpoint of any other value fails the query with a message
    naming the aggregate)."""
    def decorate(cls):
        register_function(PythonFunction(
            (name or cls.__name__).upper(), "aggregate", _types(params), _type(returns), cls,
            description=description or _doc(cls), path=_where(cls)), registry)
        return cls
    return decorate


# ---- registration -----------------------------------------------------------------------------

_lock = threading.Lock()
_functions: dict[str, PythonFunction] = {}   # DuckDB name -> function (scalar and table)
_aggregates: dict[str, list[PythonFunction]] = {}
_generation = itertools.count(1)
_current_generation = 0
_installed = threading.local()
_failed: dict[str, str] = {}                 # DuckDB name -> why DuckDB refused it


def register_function(function: PythonFunction, registry: Optional[FunctionRegistry] = None) -> None:
    """Add a variant to the registry (and, for scalar/table functions, to DuckDB connections)."""
    global _current_generation
    registry = registry or default_registry()
    existing = registry.kind_of(function.name)
    if existing is not None and not _is_python(registry, function.name):
        raise KsqlException(f"Function '{function.name}' is a built-in function and cannot be replaced.")
    if existing is not None and existing != function.kind:
        raise KsqlException(f"Function '{function.name}' is already registered as a {existing} function.")
    with _lock:
        if function.kind == "aggregate":
            _aggregates.setdefault(function.name, []).append(function)
            registry.register(function.name, function.params, function.returns, "",
                              kind="aggregate", description=function.description,
                              param_names=function.param_names, display_name=function.name)
        else:
            _drop_same_signature(registry, function)
            # An internal SQL name: the function's own name may hold any character.
            plain = re.sub(r"[^a-z0-9_]", "_", function.name.lower())
            function.duck_name = f"__py_{plain}_{next(_generation)}"
            _functions[function.duck_name] = function
            registry.register(function.name, function.params, function.returns,
                              _call_template(function), kind=function.kind, variadic=function.variadic,
                              category="PYTHON", description=function.description,
                              param_names=function.param_names, display_name=function.name)
        info = registry.get(function.name)
        info.category = "PYTHON" if function.kind != "aggregate" else "AGGREGATE"
        info.description = info.description or function.description
        setattr(info, "python", True)
        setattr(info, "path", function.path)
        _current_generation = next(_generation)
    from engine.duck import on_connection
    on_connection(install)


def _is_python(registry: FunctionRegistry, name: str) -> bool:
    return bool(getattr(registry.get(name), "python", False))


def _drop_same_signature(registry: FunctionRegistry, function: PythonFunction) -> None:
    """Re-registering a variant (e.g. reloading a module) replaces it."""
    if registry.kind_of(function.name) is None:
        return
    info = registry.get(function.name)
    info.variants[:] = [v for v in info.variants if tuple(v.params) != function.params]
    for duck_name in [d for d, f in _functions.items()
                      if f.name == function.name and f.params == function.params]:
        del _functions[duck_name]


def _call_template(function: PythonFunction):
    """The SQL of a call: the DuckDB function over the (already coerced) arguments. Variadic
    arguments travel as one LIST, since a DuckDB function has a fixed arity."""
    fixed = len(function.params) - 1 if function.variadic else len(function.params)

    def render(args_sql: list[str], arg_types) -> str:
        args = list(args_sql[:fixed])
        if function.variadic:
            rest = args_sql[fixed:]
            element = duckdb_type(function.params[-1])
            args.append(f"list_value({', '.join(rest)})" if rest else f"CAST([] AS {element}[])")
        return f"{function.duck_name}({', '.join(args)})"
    return render


def register_kernel(duck_name: str, fn: Callable, params: Sequence[TypeSpec], returns: TypeSpec) -> str:
    """An internal vectorized kernel for built-ins whose semantics no SQL expression gives:
    callable from compiled SQL as `duck_name(...)`, invisible to SHOW FUNCTIONS."""
    global _current_generation
    with _lock:
        if duck_name not in _functions:
            _functions[duck_name] = PythonFunction(duck_name.upper(), "scalar", _types(params), _type(returns),
                                                   fn, duck_name=duck_name)
            _current_generation = next(_generation)
    from engine.duck import on_connection
    on_connection(install)
    return duck_name


def unregister_function(name: str, registry: Optional[FunctionRegistry] = None) -> None:
    """Forget a Python function (all its variants). Built-ins cannot be removed."""
    global _current_generation
    registry = registry or default_registry()
    if registry.kind_of(name) is None or not _is_python(registry, name):
        return
    with _lock:
        registry.unregister(name)
        _aggregates.pop(name.upper(), None)
        for duck_name in [d for d, f in _functions.items() if f.name == name.upper()]:
            del _functions[duck_name]  # the DuckDB function stays, unreachable from SQL
        _current_generation = next(_generation)


def python_functions() -> list[PythonFunction]:
    """Every registered Python scalar and table function variant."""
    return list(_functions.values())


# ---- DuckDB -----------------------------------------------------------------------------------

def install(con) -> None:
    """Make the registered functions callable on a DuckDB connection (idempotent, cheap: a
    connection remembers the registration generation it has seen)."""
    states = _installed.__dict__.setdefault("states", {})
    state = states.get(id(con))
    if state is None or state["con"] is not con:
        state = states[id(con)] = {"con": con, "names": set(), "generation": 0}
    if state["generation"] == _current_generation:
        return
    for duck_name, function in list(_functions.items()):
        if duck_name not in state["names"]:
            state["names"].add(duck_name)
            try:
                _create(con, function)
            except Exception as error:  # noqa: BLE001 - one bad UDF must not break the connection
                _failed[duck_name] = str(error)
    state["generation"] = _current_generation


def _create(con, function: PythonFunction) -> None:
    params = [con.sqltype(duckdb_type(p)) for p in function.params]
    if function.variadic:
        params[-1] = con.sqltype(duckdb_type(_list_of(function.params[-1])))
    returns = function.returns if function.kind == "scalar" else _list_of(function.returns)
    kwargs = dict(type="arrow", null_handling="special", side_effects=not function.deterministic)
    kernel = _vectorized_kernel(function, returns) if not function.per_row else _per_row_kernel(function, returns)
    # DuckDB checks the Python arity against the parameter list.
    kernel.__signature__ = inspect.Signature([
        inspect.Parameter(f"a{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(params))])
    con.create_function(function.duck_name, kernel, params, con.sqltype(duckdb_type(returns)), **kwargs)


def _list_of(element: SqlType) -> SqlType:
    return SqlType("ARRAY", element=element)


def _vectorized_kernel(function: PythonFunction, returns: SqlType) -> Callable:
    arrow_type = to_arrow(returns)

    def kernel(*arrays):
        arrays = [_plain(a) for a in arrays]
        try:
            return _conform(function.impl(*arrays), arrow_type, len(arrays[0]) if arrays else None)
        except Exception:  # noqa: BLE001 - a user function failed: find the failing rows
            if not arrays or len(arrays[0]) <= 1:
                return pa.nulls(len(arrays[0]) if arrays else 1, arrow_type)
            return _row_by_row(function, arrays, arrow_type)
    return kernel


def _row_by_row(function: PythonFunction, arrays: list[pa.Array], arrow_type: pa.DataType) -> pa.Array:
    """Evaluate a vectorized function on one-row slices: each failing row becomes NULL."""
    parts = []
    for i in range(len(arrays[0])):
        try:
            parts.append(_conform(function.impl(*[a.slice(i, 1) for a in arrays]), arrow_type, 1))
        except Exception:  # noqa: BLE001
            parts.append(pa.nulls(1, arrow_type))
    return pa.concat_arrays(parts)


def _per_row_kernel(function: PythonFunction, returns: SqlType) -> Callable:
    """Per-row Python: named so; the function is called once per row."""
    arrow_type = to_arrow(returns)

    def per_row_kernel(*arrays):
        columns = [_plain(a).to_pylist() for a in arrays]
        rows = list(zip(*columns)) if columns else [()]
        if function.variadic:  # the variadic arguments arrive as one list: spread them
            rows = [row[:-1] + tuple(row[-1] or ()) for row in rows]
        out = []
        for row in rows:
            if function.null_on_null and any(v is None for v in row):
                out.append(None)
                continue
            try:
                out.append(function.impl(*row))
            except Exception:  # noqa: BLE001 - ksqlDB nulls the column of a failing row
                out.append(None)
        return pa.array(out, arrow_type)
    return per_row_kernel


def _plain(array):
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _conform(result, arrow_type: pa.DataType, length: Optional[int]) -> pa.Array:
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks()
    if not isinstance(result, pa.Array):
        result = pa.array(list(result) if not isinstance(result, (list, tuple)) else result, arrow_type)
    if result.type != arrow_type:
        result = result.cast(arrow_type)
    if length is not None and len(result) != length:
        raise ValueError(f"a vectorized function returned {len(result)} values for {length} rows")
    return result


# ---- aggregates (called by the aggregation operators) ---------------------------------------

def python_aggregate(name: str, arg_types: list[Optional[SqlType]]) -> Optional[PythonFunction]:
    """The Python aggregate variant for these argument types, or None if `name` is not one."""
    variants = _aggregates.get(name.upper())
    if not variants:
        return None
    registry = default_registry()
    resolved = registry.resolve(name, arg_types)  # ksqlDB's overload rules and messages
    for variant in variants:
        if variant.params == tuple(resolved.variant.params):
            return variant
    return variants[0]


class PythonAccumulator:
    """The aggregation operators' accumulator protocol (add / remove / merge / result) over a
    Python UDAF instance. `add` and `remove` receive the argument values of one row."""

    def __init__(self, function: PythonFunction):
        self.function = function
        self.udaf = function.impl()
        self.acc = self.udaf.initialize()

    def add(self, args: tuple, seq: int = 0) -> None:
        self.acc = self.udaf.aggregate(self.acc, *args)

    def remove(self, args: tuple, seq: int = 0) -> None:
        undo = getattr(self.udaf, "undo", None)
        if undo is None:
            raise KsqlException(f"Aggregate {self.function.name} does not support undo (table sources).")
        self.acc = undo(self.acc, *args)

    def merge(self, other: "PythonAccumulator") -> None:
        self.acc = self.udaf.merge(self.acc, other.acc)

    def result(self) -> Any:
        return self.udaf.map(self.acc)

    # --- checkpoints: the accumulator as JSON text (see `udaf`) ---
    def state_columns(self) -> tuple[str, ...]:
        return ("json",)

    def state_rows(self) -> list[tuple]:
        from engine.state.snapshot import check_json_data
        check_json_data(self.acc, f"the accumulator of UDAF {self.function.name}", exact=False)
        return [(json.dumps(self.acc),)]

    def load_rows(self, rows: list[tuple]) -> None:
        if len(rows) != 1 or not isinstance(rows[0][0], str):
            raise ValueError(f"the checkpointed accumulator of UDAF {self.function.name} is not one JSON text")
        self.acc = json.loads(rows[0][0])


def bind_python_aggregate(name: str, arg_types: list[Optional[SqlType]], literals: list[Any] = ()):
    """A `BoundAggregate` (engine.expressions.aggregates) for a Python UDAF call, or None.

    The aggregation engine calls this where a name is not one of its built-ins."""
    function = python_aggregate(name, list(arg_types))
    if function is None:
        return None
    from engine.expressions.aggregates import Accumulator, BoundAggregate

    class _Accumulator(PythonAccumulator, Accumulator):
        pass

    return BoundAggregate(function.name, function.returns, len(arg_types),
                          undo=hasattr(function.impl, "undo"), complex_intermediate=True,
                          accumulator=lambda: _Accumulator(function))


# ---- loading ----------------------------------------------------------------------------------

_entry_points_loaded = False


def load_extension_dir(directory: str | Path) -> list[str]:
    """Import every `*.py` file of `directory`: their decorators register (a file imported
    again replaces its functions' variants)."""
    loaded = []
    root = Path(directory)
    if not root.is_dir():
        raise KsqlException(f"{EXTENSION_DIR_PROPERTY} '{directory}' is not a directory")
    for path in sorted(root.glob("*.py")):
        resolved = str(path.resolve())
        module_name = f"ksqlite_ext_{path.stem}_{abs(hash(resolved)) % 10**8}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            sys.modules.pop(module_name, None)
            raise KsqlException(f"Could not load UDFs from {path}: {error}") from error
        loaded.append(str(path))
    return loaded


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load the installed packages' UDFs (entry point group `ksqlite.udfs`), once per process.

    An entry point names a module (its decorators register) or a callable, called with the
    registry."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return []
    _entry_points_loaded = True
    from importlib.metadata import entry_points
    loaded = []
    for entry in entry_points(group=group):
        target = entry.load()
        if callable(target) and not inspect.ismodule(target):
            target(default_registry())
        loaded.append(entry.name)
    return loaded


def load_configured(properties: dict) -> None:
    """What an Engine does at start: entry points, then `ksql.extension.dir` if set."""
    if str(properties.get("ksql.udfs.enabled", "true")).lower() == "false":
        return
    load_entry_points()
    directory = properties.get(EXTENSION_DIR_PROPERTY)
    if directory:
        load_extension_dir(directory)


# ---- helpers ----------------------------------------------------------------------------------

def _type(spec: TypeSpec) -> SqlType:
    if isinstance(spec, SqlType):
        return spec
    from grammar.parser import parse_type
    return parse_type(spec)


def _types(specs: Sequence[TypeSpec]) -> tuple[SqlType, ...]:
    return tuple(_type(s) for s in specs)


def _param_names(fn) -> tuple[str, ...]:
    try:
        return tuple(p.name for p in inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return ()


def _doc(obj) -> str:
    return inspect.getdoc(obj).split("\n\n")[0].replace("\n", " ") if inspect.getdoc(obj) else ""


def _where(obj) -> str:
    try:
        return inspect.getsourcefile(obj) or ""
    except TypeError:
        return ""
